/**
 * `npm run dev`: a database (embedded PGlite under .data/pglite unless DATABASE_URL is set), the
 * WebSocket proxy the Neon driver needs to reach it, migrations, `wrangler dev` on PORT (default 8787),
 * and a demo tenant and source, then prints the console's sign-in link, an admin token and ready-to-paste
 * commands; it rebuilds the console (public/console/) when its sources change.
 * Settings (README "Configuration") come from the environment or `.dev.vars`, the environment winning;
 * scripts/lib/worker-settings.ts decides how each reaches the Worker.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { watch } from 'node:fs';
import { createInterface } from 'node:readline';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildConsole } from './build-assets.ts';
import { dataDir, demoFile, readDemo, root, type Demo } from './lib/demo.ts';
import { adminToken, ensureDevVars } from './lib/dev-vars.ts';
import { describeDatabase, proxyFor } from './lib/local-db.ts';
import { migrate, startPglite } from './lib/postgres.ts';
import { secretKey } from './lib/standard-webhooks.ts';
import { describeSettings, pick, resolveSettings, WORKER_SETTINGS, wranglerInputs, type ResolvedSettings } from './lib/worker-settings.ts';
import { checkConfig } from '../src/config.ts';
import { withLocalV8Flags } from '../src/sandbox/local-v8-flags.ts';

/** Set in main() from PORT (environment, then .dev.vars). */
let port = 8787;
let base = `http://127.0.0.1:${port}`;
/** Run in reverse order on shutdown. */
const cleanups: (() => Promise<void>)[] = [];
let wrangler: ChildProcess | null = null;
let stopping = false;

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) {
      // a second Ctrl-C: stop waiting for a clean exit
      killWrangler('SIGKILL');
      process.exit(130);
    }
    console.error(`dev: ${signal}, stopping…`);
    void shutdown(0);
  });
}
// last resort if we die on an exception: never leave wrangler/workerd behind
process.on('exit', () => killWrangler('SIGKILL'));

try {
  await main();
} catch (error) {
  console.error(`\ndev: ${(error as Error).message}`);
  await shutdown(1);
}

async function main(): Promise<void> {
  const devVars = await ensureDevVars(join(root, '.dev.vars'));
  const portSetting = pick('PORT', process.env, devVars);
  port = Number(portSetting?.value || 8787);
  base = `http://127.0.0.1:${port}`;
  if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new Error(`PORT=${portSetting?.value} (${portSetting?.origin}) is not a valid port`);
  await assertPortFree(port);

  const settings = resolveSettings(process.env, devVars);
  for (const key of settings.unknown) console.warn(`dev: .dev.vars sets ${key}, which is no Switchyard setting (README "Configuration"); ignored`);
  const secret = settings.values.ADMIN_JWT_SECRET;
  if (!secret) throw new Error('ADMIN_JWT_SECRET is empty (remove the line from .dev.vars to have a new one generated)');
  // the Worker would refuse every request over a malformed setting; say which one before starting it
  checkConfig(settings.values);

  let databaseUrl = settings.values.DATABASE_URL;
  let databaseLabel: string;
  if (databaseUrl) {
    databaseLabel = `DATABASE_URL (${describeDatabase(databaseUrl)}, from ${settings.origins.DATABASE_URL})`;
  } else {
    await mkdir(dataDir, { recursive: true });
    const pglite = await startPglite({ dataDir: join(dataDir, 'pglite') });
    cleanups.push(() => pglite.stop());
    databaseUrl = pglite.url;
    databaseLabel = `embedded PGlite (.data/pglite, ${describeDatabase(databaseUrl)})`;
    setByDev(settings, 'DATABASE_URL', databaseUrl);
  }
  const proxy = await proxyFor(databaseUrl);
  if (proxy) {
    cleanups.push(() => proxy.close());
    setByDev(settings, 'NEON_WS_PROXY', proxy.endpoint);
  }

  const applied = await migrate(databaseUrl);
  console.log(`dev: database ${databaseLabel}`);
  console.log(applied.length ? `dev: applied migrations: ${applied.join(', ')}` : 'dev: migrations up to date');

  const envFile = join(dataDir, 'wrangler.env');
  const inputs = wranglerInputs(settings.values, envFile);
  await mkdir(dataDir, { recursive: true });
  await writeFile(envFile, inputs.envFileText, { mode: 0o600 });
  await chmod(envFile, 0o600);
  const args = [
    join(root, 'node_modules/wrangler/bin/wrangler.js'),
    'dev',
    '--port',
    String(port),
    '--ip',
    '127.0.0.1',
    // chosen by the OS: wrangler's default 9229 is probed first and bound later, so a quick restart or
    // a second dev server could take it in between ("Address already in use (direct:1:default)")
    '--inspector-port',
    '0',
    '--persist-to',
    join(dataDir, 'wrangler'),
    '--show-interactive-dev-session=false',
    // exposes /__scheduled: Miniflare does not fire wrangler.toml's Cron Trigger by itself
    '--test-scheduled',
    // wrangler.toml minifies what a deploy ships; locally the logs' stack traces keep the source's names
    '--no-minify',
    ...inputs.args,
  ];
  // own process group, so shutdown can signal wrangler and its workerd together
  wrangler = spawn(process.execPath, args, { cwd: root, env: wranglerEnv(), stdio: ['ignore', 'inherit', 'pipe'], detached: true });
  const child = wrangler;
  forwardStderr(child);
  child.on('exit', (code, signal) => {
    if (stopping) return;
    console.error(`dev: wrangler exited (${signal ?? `code ${code}`})`);
    void shutdown(code || 1);
  });

  await waitHealthy(child);
  tickCron();
  const token = await adminToken(secret);
  let demo: Demo | null = null;
  try {
    demo = await ensureDemo(token);
  } catch (error) {
    // keep serving: wrangler reloads on edits, so a broken route can be fixed without a restart
    console.error(`dev: could not set up the demo tenant/source: ${(error as Error).message}`);
  }
  printBanner(token, databaseLabel, demo, settings);
  watchConsole();
}

/**
 * Rebuilds the console (public/console/, which wrangler dev serves as it changes) when its sources or
 * the typed client change; wrangler's own reloads only watch the Worker's sources.
 */
function watchConsole(): void {
  let timer: NodeJS.Timeout | undefined;
  let building = Promise.resolve();
  const rebuild = () => {
    building = building.then(async () => {
      try {
        const built = await buildConsole();
        if (built.kind === 'built') console.log(`dev: console rebuilt (${built.ms} ms); reload the page`);
      } catch (error) {
        console.error(`dev: the console did not build: ${(error as Error).message}`);
      }
    });
  };
  for (const dir of ['console', 'packages/client/src']) {
    const watcher = watch(join(root, dir), { recursive: true }, () => {
      clearTimeout(timer);
      timer = setTimeout(rebuild, 250);
    });
    cleanups.push(async () => watcher.close());
  }
}

/**
 * wrangler's stderr, less workerd's note that its bootstrap compile cache does not fit the V8 flag the
 * tenant-script guard adds (local-v8-flags.ts): scripts then compile from source, which is harmless.
 */
function forwardStderr(child: ChildProcess): void {
  if (!child.stderr) return;
  createInterface({ input: child.stderr, crlfDelay: Infinity }).on('line', (line) => {
    if (!line.includes('NOSENTRY per-isolate bootstrap compile cache failed')) process.stderr.write(`${line}\n`);
  });
}

function setByDev(settings: ResolvedSettings, name: string, value: string): void {
  settings.values[name] = value;
  settings.origins[name] = 'npm run dev';
}

/**
 * wrangler's environment: without our settings (they travel as arguments and the env file, already
 * merged), and quiet offline: no telemetry, no download of the `Request.cf` placeholder from
 * workers.cloudflare.com (an ENOTFOUND stack trace when offline), no machine-wide dev registry (other
 * `wrangler dev` sessions starting or stopping would reprint the bindings table). Each stays
 * overridable from the environment.
 */
function wranglerEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const { name } of WORKER_SETTINGS) delete env[name];
  env.WRANGLER_SEND_METRICS ??= 'false';
  env.CLOUDFLARE_CF_FETCH_ENABLED ??= 'false';
  env.WRANGLER_REGISTRY_PATH ??= '';
  // a catastrophic regular expression in a tenant script must not freeze the local runtime
  env.MINIFLARE_WORKERD_V8_FLAGS = withLocalV8Flags(env.MINIFLARE_WORKERD_V8_FLAGS);
  return env;
}

/**
 * Runs the Worker's Cron Trigger every minute, as production does: the redrive sweep then sends the
 * deliveries whose queue messages a restart of this dev server dropped (its queue lives in memory).
 */
function tickCron(): void {
  setInterval(() => {
    fetch(`${base}/__scheduled?cron=${encodeURIComponent('* * * * *')}`, { signal: AbortSignal.timeout(30_000) }).catch(() => {
      // wrangler restarting after an edit; the next minute tries again
    });
  }, 60_000).unref();
}

function assertPortFree(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'EADDRINUSE'
          ? new Error(`port ${port} is already in use (another \`npm run dev\`?). Stop it or pick another: PORT=8788 npm run dev`)
          : error,
      ),
    );
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve()));
  });
}

async function waitHealthy(child: ChildProcess, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error('wrangler exited before it was ready');
    try {
      if ((await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(2_000) })).ok) return;
    } catch {
      // not listening yet
    }
    await sleep(300);
  }
  throw new Error(`${base}/healthz did not answer within ${timeoutMs / 1000} s`);
}

async function ensureDemo(token: string): Promise<Demo> {
  const api = async <T>(method: string, path: string, body?: unknown): Promise<{ status: number; json: T }> => {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    if (method !== 'GET' && !response.ok) throw new Error(`${method} ${path} -> ${response.status}: ${text}`);
    return { status: response.status, json: (text ? JSON.parse(text) : null) as T };
  };

  const saved = await readDemo();
  if (saved) {
    const found = await api<{ ingest_url?: string }>('GET', `/v1/tenants/${saved.tenant_id}/sources/${saved.source_id}`);
    if (found.status === 200) {
      // the ingest URL follows PORT, which may differ from the run that created the source
      const demo = { ...saved, ingest_url: found.json.ingest_url ?? `${base}/v1/ingest/${saved.source_id}` };
      await writeFile(demoFile, `${JSON.stringify(demo, null, 2)}\n`);
      return demo;
    }
  }
  const tenant = await api<{ id: string }>('POST', '/v1/tenants', { name: 'demo' });
  const source = await api<{ id: string; ingest_url: string; secret: string | null }>('POST', `/v1/tenants/${tenant.json.id}/sources`, { name: 'demo' });
  if (!source.json.secret) throw new Error('the new source came back without a secret');
  const demo: Demo = { tenant_id: tenant.json.id, source_id: source.json.id, ingest_url: source.json.ingest_url, secret: source.json.secret };
  await writeFile(demoFile, `${JSON.stringify(demo, null, 2)}\n`, { mode: 0o600 });
  return demo;
}

function printBanner(token: string, databaseLabel: string, demo: Demo | null, settings: ResolvedSettings): void {
  const lines = [
    '',
    '='.repeat(100),
    `Switchyard is running at ${base}   (database: ${databaseLabel})`,
    '',
    'Settings in force (environment over .dev.vars; README "Configuration" lists them all):',
    ...describeSettings(settings).map((line) => `  ${line}`),
  ];
  if (!settings.values.EGRESS_ALLOWLIST) {
    lines.push('  (deliveries to this machine are refused; allow a receiver with e.g. EGRESS_ALLOWLIST=127.0.0.1:9000 npm run dev)');
  }
  lines.push(
    '',
    "Console (sign in with this link; the token moves to the tab's session storage):",
    `  ${base}/console/#token=${token}`,
    '',
    'Admin token (30 days):',
    `  ${token}`,
    '',
    "For the README's curl and CLI examples, paste (T is the demo tenant, which npm run send-event sends to;",
    'SWITCHYARD_URL and SWITCHYARD_TOKEN are what npx switchyard reads):',
    `  export SY=${base} TOKEN=${token}${demo ? ` T=${demo.tenant_id}` : ''} SWITCHYARD_URL=${base} SWITCHYARD_TOKEN=${token}`,
  );
  if (demo) {
    const key = secretKey(demo.secret).toString('hex');
    // timestamp, id and signature are computed when pasted, so the command never goes stale
    const oneLiner = [
      `url='${demo.ingest_url}'`,
      `key='${key}'`,
      `id="msg_$(openssl rand -hex 12)"`,
      'ts=$(date +%s)',
      `body=$(printf '{"specversion":"1.0","id":"%s","source":"switchyard/demo","type":"demo.greeting","time":"%s","data":{"hello":"world"}}' "$id" "$(date -u +%Y-%m-%dT%H:%M:%SZ)")`,
      'sig=$(printf \'%s\' "$id.$ts.$body" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$key" -binary | openssl base64 -A)',
      `curl -sS -w ' HTTP %{http_code}\\n' "$url" -H 'content-type: application/cloudevents+json' -H "webhook-id: $id" -H "webhook-timestamp: $ts" -H "webhook-signature: v1,$sig" --data-raw "$body"`,
    ].join('; ');
    lines.push(
      '',
      `Demo tenant:  ${demo.tenant_id}`,
      `Demo source:  ${demo.source_id}`,
      `Ingest URL:   ${demo.ingest_url}`,
      `(kept in ${demoFile})`,
      '',
      'Send a signed event, either:',
      '  npm run send-event            (e.g. -- --type orders.created --data \'{"amount":300}\' --count 5; all options: -- --help)',
      'or with curl + openssl:',
      `  (${oneLiner})`,
      '',
      'List stored events:',
      `  curl -sS -H 'authorization: Bearer ${token}' ${base}/v1/tenants/${demo.tenant_id}/events`,
    );
  }
  lines.push('='.repeat(100), '');
  console.log(lines.join('\n'));
}

/** Signals wrangler's whole process group (wrangler and workerd); false when nothing is left in it. */
function killWrangler(signal: NodeJS.Signals | 0): boolean {
  const pid = wrangler?.pid;
  if (!pid) return false;
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}

async function shutdown(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  if (killWrangler('SIGTERM')) {
    const deadline = Date.now() + 5_000;
    while (killWrangler(0) && Date.now() < deadline) await sleep(100);
    killWrangler('SIGKILL');
  }
  for (const cleanup of cleanups.reverse()) {
    await cleanup().catch((error: unknown) => console.error(`dev: cleanup failed: ${(error as Error).message}`));
  }
  process.exit(code);
}
