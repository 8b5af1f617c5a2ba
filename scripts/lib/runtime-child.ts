/**
 * The child process behind `startRuntime` (runtime.ts): one Miniflare instance serving either the
 * bundle `wrangler deploy` would upload, with the bindings wrangler.toml declares, or a bare
 * hello-world Worker. Killing this process's group kills workerd with it, like a crashed host.
 *
 * Input: the RUNTIME_CONFIG env var (JSON, see `ChildConfig`). Output: one line
 * `RUNTIME_READY {"url": ...}` on stdout once workerd listens; workerd's logs go to stderr.
 */
import { convertV4MiniflareOptions, Log, LogLevel, Miniflare, type V4MiniflareOptions, type V4WorkerOptions } from 'miniflare';
import { dirname } from 'node:path';
import { unstable_getMiniflareWorkerOptions } from 'wrangler';

export interface ChildConfig {
  /**
   * `bundle`: the Switchyard bundle at `script`; `bare`: a Worker that answers "ok" and nothing else;
   * `floor`: a Worker that reads the body and hands it to a SQLite Durable Object, which inserts one
   * row and answers (the platform's cost of a durable acknowledgement, without any of Switchyard);
   * `costs`: the step-by-step Worker of `bench --costs` at `script` (scripts/bench/stage-costs-worker.ts).
   */
  kind: 'bundle' | 'bare' | 'floor' | 'costs';
  script?: string;
  /** wrangler.toml, whose bindings (DOs, queues, loaders, compat) are turned into Miniflare options by wrangler itself. */
  config?: string;
  root: string;
  persistDir?: string;
  port: number;
  bindings: Record<string, string>;
  inspectorPort?: number;
  /** Print Worker console output (warnings and errors always print). */
  verbose?: boolean;
  /**
   * Run the Worker's Cron Trigger (`scheduled()`) this often. Miniflare does not fire crons by
   * itself; production runs wrangler.toml's `* * * * *` every minute.
   */
  cronEverySeconds?: number;
  /**
   * Serve wrangler.toml's static assets, routed as a deploy routes them. Off by default: the asset
   * router is one more Worker in front of every request, which the bench's floor does not pay.
   */
  assets?: boolean;
}

const config = JSON.parse(process.env.RUNTIME_CONFIG ?? '{}') as ChildConfig;
const BARE = 'export default { fetch() { return new Response("ok"); } };';
const FLOOR = `import { DurableObject } from 'cloudflare:workers';
export class Log extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    ctx.storage.sql.exec('CREATE TABLE IF NOT EXISTS events (sequence INTEGER PRIMARY KEY, id TEXT, body TEXT NOT NULL)');
  }
  append(id, body) {
    return this.ctx.storage.sql.exec('INSERT INTO events (id, body) VALUES (?, ?) RETURNING sequence', id, body).one().sequence;
  }
}
export default {
  async fetch(request, env) {
    const body = await request.text();
    const sequence = await env.LOG.getByName('tenant').append(request.headers.get('webhook-id'), body);
    return Response.json({ sequence }, { status: 202 });
  },
};`;
const socket = { host: '127.0.0.1', port: config.port };

function workerOptions(): V4WorkerOptions {
  if (!config.config) throw new Error('runtime-child: the path of wrangler.toml is missing');
  // the same conversion `wrangler dev` applies to wrangler.toml; secrets from .dev.vars are replaced below
  const { workerOptions: fromConfig } = unstable_getMiniflareWorkerOptions(config.config);
  if (config.kind === 'bare' || config.kind === 'floor') {
    return {
      name: config.kind,
      modules: true,
      script: config.kind === 'bare' ? BARE : FLOOR,
      compatibilityDate: fromConfig.compatibilityDate as string | undefined,
      compatibilityFlags: fromConfig.compatibilityFlags as string[] | undefined,
      unsafeDirectSockets: [socket],
      ...(config.kind === 'floor' ? { durableObjects: { LOG: { className: 'Log', useSQLite: true } } } : {}),
    };
  }
  if (!config.script) throw new Error('runtime-child: a bundle needs its script');
  if (config.kind === 'costs') {
    return {
      name: 'costs',
      modules: true,
      scriptPath: config.script,
      modulesRoot: dirname(config.script),
      compatibilityDate: fromConfig.compatibilityDate as string | undefined,
      compatibilityFlags: fromConfig.compatibilityFlags as string[] | undefined,
      unsafeDirectSockets: [socket],
      durableObjects: { COSTS: { className: 'StageCosts', useSQLite: true } },
    };
  }
  // the deploy bundle is one ES module, so the module rules (text/wasm imports) have nothing to match
  const { modulesRules: _rules, rootPath: _root, assets, ...bindingOptions } = fromConfig;
  return {
    ...(bindingOptions as V4WorkerOptions),
    name: 'switchyard',
    modules: true,
    scriptPath: config.script,
    modulesRoot: dirname(config.script),
    bindings: config.bindings,
    ...(config.assets ? { assets } : {}),
    unsafeDirectSockets: [socket],
  } as V4WorkerOptions;
}

// the same V4 -> Miniflare conversion wrangler dev does before `new Miniflare`
const options: V4MiniflareOptions = {
  rootPath: config.root,
  host: '127.0.0.1',
  port: 0,
  logRequests: false,
  log: new Log(config.verbose ? LogLevel.INFO : LogLevel.WARN),
  handleStructuredLogs: ({ level, message }) => {
    // V8's --trace-gc lines, when startRuntime asked for them (runtime.ts, `onGc`)
    if (message.includes(': Mark-Compact')) return void process.stderr.write(`${message}\n`);
    if (config.verbose || level === 'error' || level === 'warn') process.stderr.write(`[workerd ${level}] ${message}\n`);
  },
  ...(config.persistDir ? { resourcePersistencePath: config.persistDir } : {}),
  ...(config.inspectorPort ? { inspectorPort: config.inspectorPort } : {}),
  ...(config.cronEverySeconds ? { unsafeTriggerHandlers: true } : {}),
  workers: [workerOptions()],
};

const mf = new Miniflare(convertV4MiniflareOptions(options));
await mf.ready;
const url = await mf.unsafeGetDirectURL(config.kind === 'bundle' ? 'switchyard' : config.kind);
process.stdout.write(`RUNTIME_READY ${JSON.stringify({ url: url.toString().replace(/\/$/, '') })}\n`);

if (config.kind === 'bundle' && config.cronEverySeconds) {
  // the route `wrangler dev --test-scheduled` forwards /__scheduled to
  const trigger = `http://localhost/cdn-cgi/local/scheduled?cron=${encodeURIComponent('* * * * *')}`;
  setInterval(() => {
    mf.dispatchFetch(trigger)
      .then(async (res) => {
        const text = await res.text();
        if (!res.ok) process.stderr.write(`[runtime-child] scheduled() answered ${res.status}: ${text}\n`);
      })
      .catch((error: unknown) => process.stderr.write(`[runtime-child] scheduled() failed: ${String(error)}\n`));
  }, config.cronEverySeconds * 1000).unref();
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    void mf.dispose().finally(() => process.exit(0));
  });
}
