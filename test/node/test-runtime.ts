/**
 * A real Switchyard for the Node tests that need one (the CLI, the SDK, OTLP export): the bundle `wrangler deploy` would upload, under
 * workerd (scripts/lib/runtime.ts), on a scratch Postgres database, with a local receiver the
 * runtime may deliver to. State is kept on disk, so `restart()` after `runtime.kill()` comes back
 * on the same data and port.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adminToken } from '../../scripts/lib/dev-vars.ts';
import { routeThroughLocalProxy as routeNeonThrough } from '../../scripts/lib/postgres.ts';
import { startReceiver, type Receiver } from '../../scripts/lib/receiver.ts';
import { bundleWorker, restartRuntime, startRuntime, type Runtime } from '../../scripts/lib/runtime.ts';
import { scratchDatabase } from '../../scripts/lib/scratch-db.ts';
import { signatureHeaders } from '../../scripts/lib/standard-webhooks.ts';
import { startWsProxy } from '../../scripts/lib/ws-proxy.ts';

export interface TestRuntime {
  runtime: Runtime;
  adminSecret: string;
  receiver: Receiver;
  token: string;
  /** The environment the CLI runs with (SWITCHYARD_URL / SWITCHYARD_TOKEN, a scratch config dir). */
  env: Record<string, string>;
  work: string;
  logs: string[];
  api<T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<{ status: number; json: T }>;
  /** Kills the runtime (SIGKILL, like a crashed host) and starts it again on the same state and port. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

export interface TestRuntimeOptions {
  /** More Worker bindings (settings) than the database, keys and the receiver's egress allowance. */
  bindings?: Record<string, string>;
}

export async function startTestRuntime(prefix: string, options: TestRuntimeOptions = {}): Promise<TestRuntime> {
  const cleanups: (() => Promise<unknown>)[] = [];
  const work = await mkdtemp(join(tmpdir(), `${prefix}-`));
  cleanups.push(() => rm(work, { recursive: true, force: true }));
  try {
    const bundle = await bundleWorker(join(work, 'bundle'));
    const proxy = await startWsProxy();
    cleanups.push(() => proxy.close());
    routeNeonThrough(proxy.endpoint);
    const database = await scratchDatabase(prefix.replaceAll('-', '_'));
    cleanups.push(() => database.stop());
    const receiver = await startReceiver();
    cleanups.push(() => receiver.close());
    const adminSecret = randomBytes(32).toString('base64url');
    const logs: string[] = [];
    let runtime = await startRuntime({
      kind: 'bundle',
      script: bundle.script,
      persistDir: join(work, 'state'),
      cronEverySeconds: 5,
      onLog: (line) => logs.push(line),
      bindings: {
        ADMIN_JWT_SECRET: adminSecret,
        ENCRYPTION_KEY: randomBytes(32).toString('base64'),
        DATABASE_URL: database.url,
        NEON_WS_PROXY: proxy.endpoint,
        EGRESS_ALLOWLIST: new URL(receiver.url).host,
        ...options.bindings,
      },
    });
    cleanups.push(() => runtime.stop());
    const token = await adminToken(adminSecret, '2h');
    const api = async <T>(method: string, path: string, body?: unknown) => {
      const response = await fetch(`${runtime.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await response.text();
      return { status: response.status, json: (text ? JSON.parse(text) : null) as T };
    };
    return {
      get runtime() {
        return runtime;
      },
      adminSecret,
      receiver,
      token,
      env: { SWITCHYARD_URL: runtime.url, SWITCHYARD_TOKEN: token, XDG_CONFIG_HOME: join(work, 'config') },
      work,
      logs,
      api,
      async restart() {
        await runtime.kill();
        runtime = await restartRuntime(runtime);
      },
      async close() {
        for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
      },
    };
  } catch (error) {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    throw error;
  }
}

export interface Source {
  tenantId: string;
  sourceId: string;
  secret: string;
  ingestUrl: string;
}

export async function createTenantAndSource(t: TestRuntime, name: string): Promise<Source> {
  const tenant = await t.api<{ id: string }>('POST', '/v1/tenants', { name });
  const source = await t.api<{ id: string; secret: string; ingest_url: string }>('POST', `/v1/tenants/${tenant.json.id}/sources`, { name: `${name} source` });
  if (source.status !== 201) throw new Error(`source: ${source.status} ${JSON.stringify(source.json)}`);
  return { tenantId: tenant.json.id, sourceId: source.json.id, secret: source.json.secret, ingestUrl: `${t.runtime.url}/v1/ingest/${source.json.id}` };
}

/** Signed ingest from the test itself (one event or a batch); resolves with the parsed 202 body. */
export interface IngestAnswer {
  id: string;
  sequence: number;
  duplicate: boolean;
  results?: { status: number; id?: string; sequence?: number }[];
}

export async function ingest(source: Source, events: object | object[]): Promise<{ status: number; json: IngestAnswer }> {
  const body = JSON.stringify(events);
  const response = await fetch(source.ingestUrl, {
    method: 'POST',
    headers: {
      'content-type': Array.isArray(events) ? 'application/cloudevents-batch+json' : 'application/cloudevents+json',
      ...signatureHeaders(source.secret, `msg_${randomBytes(8).toString('hex')}`, body),
    },
    body,
  });
  return { status: response.status, json: (await response.json()) as IngestAnswer };
}

export function cloudEvent(type: string, data: unknown, extra: Record<string, unknown> = {}) {
  return { specversion: '1.0', id: randomBytes(12).toString('hex'), source: '/cli-test', type, data, ...extra };
}
