/**
 * The `switchyard` CLI without a runtime: help on every command, exit codes, the stored login, and
 * `verify` against signatures made by the official `standardwebhooks` package. The commands that
 * talk to a runtime are tested end to end in cli-e2e.test.ts.
 */
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../scripts/lib/runtime.ts';
import { root } from '../../packages/cli/src/main.ts';
import { runCli, runCliSync } from './cli-harness.ts';

type Command = { meta?: unknown; subCommands?: unknown };

function commandPaths(command: Command, prefix: string[] = []): string[][] {
  const subs = (command.subCommands ?? {}) as Record<string, Command>;
  const paths = [prefix];
  for (const [name, sub] of Object.entries(subs)) paths.push(...commandPaths(sub, [...prefix, name]));
  return paths;
}

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const jwt = (claims: Record<string, unknown>) => `${b64url({ alg: 'HS256', typ: 'JWT' })}.${b64url(claims)}.c2lnbmF0dXJl`;
const SECRET = `whsec_${Buffer.from('0123456789abcdef0123456789abcdef').toString('base64')}`;

let dir: string;
let problemServer: Server;
let problemUrl: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'switchyard-cli-'));
  // answers every request like the runtime refusing it
  problemServer = createServer((req, res) => {
    const status = req.headers.authorization === 'Bearer refused' ? 401 : 404;
    const body =
      status === 401
        ? { type: 'about:blank', title: 'Unauthorized', status, code: 'invalid_token', detail: 'the token signature is invalid' }
        : { type: 'about:blank', title: 'Not Found', status, code: 'tenant_not_found', detail: 'no tenant tn_nope' };
    res.writeHead(status, { 'content-type': 'application/problem+json' }).end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => problemServer.listen(0, '127.0.0.1', resolve));
  problemUrl = `http://127.0.0.1:${(problemServer.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => problemServer.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

describe('switchyard --help', () => {
  it('prints usage and exits 0 for every command and sub-command', { timeout: 240_000 }, async () => {
    const paths = commandPaths(root as Command);
    expect(paths.length).toBeGreaterThan(20);
    for (let i = 0; i < paths.length; i += 6) {
      const runs = await Promise.all(paths.slice(i, i + 6).map((path) => runCli([...path, '--help'])));
      runs.forEach((run, j) => {
        const path = paths[i + j]!;
        expect(run.status, path.join(' ')).toBe(0);
        expect(run.stdout, path.join(' ')).toContain(`USAGE switchyard${path.length ? ` ${path.join(' ')}` : ''}`);
      });
    }
  });

  it('lists the options of listen and send', { timeout: 60_000 }, () => {
    const listen = runCliSync(['listen', '--help']).stdout;
    for (const flag of ['--tenant', '--forward-to', '--types', '--where', '--name', '--json']) expect(listen).toContain(flag);
    const send = runCliSync(['send', '--help']).stdout;
    for (const flag of ['--source', '--secret', '--type', '--data', '--file', '--id', '--subject', '--partition-key', '--priority', '--url'])
      expect(send).toContain(flag);
  });
});

describe('switchyard exit codes', () => {
  it('exits 2 for an unknown command, an unknown option and a missing required option', { timeout: 60_000 }, () => {
    const unknown = runCliSync(['frobnicate']);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain('unknown command frobnicate');
    const option = runCliSync(['tail', '--tenant', 'tn_1', '--bogus']);
    expect(option.status).toBe(2);
    expect(option.stderr).toContain('unknown option --bogus');
    const missing = runCliSync(['listen', '--tenant', 'tn_1']);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain('--forward-to');
  });

  it('exits 3 when no URL or token is configured', { timeout: 60_000 }, () => {
    const run = runCliSync(['events', 'list', '--tenant', 'tn_1'], { XDG_CONFIG_HOME: join(dir, 'empty') });
    expect(run.status).toBe(3);
    expect(run.stderr).toContain('switchyard login');
  });

  it('exits 4 when the runtime cannot be reached', { timeout: 60_000 }, async () => {
    const port = await freePort();
    const run = runCliSync(['events', 'list', '--tenant', 'tn_1'], { SWITCHYARD_URL: `http://127.0.0.1:${port}`, SWITCHYARD_TOKEN: jwt({ scope: 'admin' }) });
    expect(run.status).toBe(4);
    expect(run.stderr).toContain(`cannot reach http://127.0.0.1:${port}`);
  });

  // async runs: the problem server lives in this process
  it('prints an RFC 9457 problem as "error: <title> (<code>): <detail>" and exits 1, or 3 for a refused token', { timeout: 60_000 }, async () => {
    const env = { SWITCHYARD_URL: problemUrl, SWITCHYARD_TOKEN: jwt({ scope: 'admin' }) };
    const missing = await runCli(['events', 'list', '--tenant', 'tn_nope'], env);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain('error: Not Found (tenant_not_found): no tenant tn_nope');
    const refused = await runCli(['tenants', 'list'], { ...env, SWITCHYARD_TOKEN: 'refused' });
    expect(refused.status).toBe(3);
    expect(refused.stderr).toContain('error: Unauthorized (invalid_token)');
  });

  it('prints the failure as one JSON document on stdout with --json', { timeout: 60_000 }, async () => {
    const run = await runCli(['events', 'get', 'evt_1', '--tenant', 'tn_nope', '--json'], {
      SWITCHYARD_URL: problemUrl,
      SWITCHYARD_TOKEN: jwt({ scope: 'admin' }),
    });
    expect(run.status).toBe(1);
    expect(JSON.parse(run.stdout)).toMatchObject({ error: { exit_code: 1, problem: { status: 404, code: 'tenant_not_found' } } });
  });
});

describe('switchyard login / whoami / logout', () => {
  it('stores URL and token with mode 0600, shows them decoded, lets the environment override them, and forgets them', { timeout: 60_000 }, async () => {
    const config = join(dir, 'cfg');
    const exp = Math.floor(Date.now() / 1000) + 3600;
    const token = jwt({ scope: 'tenant', tenant: 'tn_01ABC', scopes: ['events:read'], exp });
    const login = runCliSync(['login', '--url', 'http://127.0.0.1:8787/', '--token', token, '--no-check'], { XDG_CONFIG_HOME: config });
    expect(login.status, login.stderr).toBe(0);
    const file = join(config, 'switchyard', 'config.json');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual({ url: 'http://127.0.0.1:8787', token });

    const whoami = runCliSync(['whoami', '--json'], { XDG_CONFIG_HOME: config });
    expect(whoami.status).toBe(0);
    expect(JSON.parse(whoami.stdout)).toMatchObject({
      url: 'http://127.0.0.1:8787',
      kind: 'tenant',
      tenant: 'tn_01ABC',
      scopes: ['events:read'],
      exp: new Date(exp * 1000).toISOString(),
      expired: false,
      from: { url: 'config', token: 'config' },
    });
    expect(runCliSync(['whoami'], { XDG_CONFIG_HOME: config }).stdout).toContain('tenant token for tn_01ABC');

    const overridden = runCliSync(['whoami', '--json'], {
      XDG_CONFIG_HOME: config,
      SWITCHYARD_URL: 'http://other:1',
      SWITCHYARD_TOKEN: jwt({ scope: 'admin' }),
    });
    expect(JSON.parse(overridden.stdout)).toMatchObject({ url: 'http://other:1', kind: 'admin', tenant: null, from: { url: 'env', token: 'env' } });

    expect(runCliSync(['logout'], { XDG_CONFIG_HOME: config }).status).toBe(0);
    await expect(stat(file)).rejects.toThrow();
    expect(runCliSync(['whoami'], { XDG_CONFIG_HOME: config }).status).toBe(3);
  });

  it('refuses a token that is not a JWT and a URL that is not http(s)', { timeout: 60_000 }, () => {
    expect(runCliSync(['login', '--url', 'http://x', '--token', 'nope', '--no-check'], { XDG_CONFIG_HOME: join(dir, 'c2') }).status).toBe(2);
    expect(runCliSync(['login', '--url', 'ftp://x', '--token', jwt({ scope: 'admin' }), '--no-check'], { XDG_CONFIG_HOME: join(dir, 'c2') }).status).toBe(2);
  });
});

describe('switchyard verify', () => {
  async function signedFiles(name: string, options: { secret?: string; body?: string; at?: Date; lines?: boolean } = {}) {
    const body = options.body ?? JSON.stringify({ specversion: '1.0', id: 'order-1', source: '/shop', type: 'orders.created', data: { amount: 5 } });
    const at = options.at ?? new Date();
    const signature = new Webhook(options.secret ?? SECRET).sign('msg_1', at, body);
    const headers = { 'webhook-id': 'msg_1', 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)), 'webhook-signature': signature };
    const headersFile = join(dir, `${name}.headers`);
    const bodyFile = join(dir, `${name}.body`);
    const text = options.lines
      ? `POST /hooks HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/cloudevents+json\r\n${Object.entries(headers)
          .map(([k, v]) => `${k}: ${v}`)
          .join('\r\n')}\r\n`
      : JSON.stringify(headers);
    await writeFile(headersFile, text);
    await writeFile(bodyFile, body);
    return { headersFile, bodyFile };
  }

  it('exits 0 for a signature made by the standardwebhooks package, from JSON or header lines', { timeout: 60_000 }, async () => {
    for (const lines of [false, true]) {
      const { headersFile, bodyFile } = await signedFiles(`ok-${lines}`, { lines });
      const run = runCliSync(['verify', '--secret', SECRET, '--headers', headersFile, '--body', bodyFile]);
      expect(run.status, run.stderr).toBe(0);
      expect(run.stdout).toContain('valid: message msg_1, event orders.created order-1');
    }
  });

  it('accepts any one of several secrets (rotation) and reports the event with --json', { timeout: 60_000 }, async () => {
    const { headersFile, bodyFile } = await signedFiles('rotation');
    const other = `whsec_${Buffer.from('another secret of 32 bytes long!').toString('base64')}`;
    const run = runCliSync(['verify', '--secret', `${other},${SECRET}`, '--headers', headersFile, '--body', bodyFile, '--json']);
    expect(run.status).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({
      valid: true,
      id: 'msg_1',
      event: { specversion: '1.0', id: 'order-1', source: '/shop', type: 'orders.created', data: { amount: 5 } },
    });
  });

  it('exits 1 with the reason for a changed body, a wrong secret and a stale timestamp', { timeout: 60_000 }, async () => {
    const tampered = await signedFiles('tampered');
    await writeFile(tampered.bodyFile, '{"changed":true}');
    const changed = runCliSync(['verify', '--secret', SECRET, '--headers', tampered.headersFile, '--body', tampered.bodyFile]);
    expect(changed.status).toBe(1);
    expect(changed.stderr).toContain('invalid: no signature in webhook-signature matches (no_matching_signature)');

    const wrong = await signedFiles('wrong', { secret: `whsec_${Buffer.from('not the secret the receiver holds').toString('base64')}` });
    const refused = runCliSync(['verify', '--secret', SECRET, '--headers', wrong.headersFile, '--body', wrong.bodyFile, '--json']);
    expect(refused.status).toBe(1);
    expect(JSON.parse(refused.stdout)).toMatchObject({ valid: false, code: 'no_matching_signature' });

    const old = await signedFiles('stale', { at: new Date(Date.now() - 10 * 60_000) });
    const stale = runCliSync(['verify', '--secret', SECRET, '--headers', old.headersFile, '--body', old.bodyFile]);
    expect(stale.status).toBe(1);
    expect(stale.stderr).toContain('(timestamp_too_old)');
  });

  it('exits 1 naming the missing headers', { timeout: 60_000 }, async () => {
    const headersFile = join(dir, 'none.headers');
    await writeFile(headersFile, '{"content-type":"application/json"}');
    const run = runCliSync(['verify', '--secret', SECRET, '--headers', headersFile, '--body', headersFile]);
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('webhook-id, webhook-timestamp and webhook-signature headers are required (missing_headers)');
  });
});
