/**
 * What every fault scenario shares: the deploy bundle, a scratch database on the machine's Postgres,
 * the WebSocket proxies (one for the Worker, one for the suite's own queries), a webhook receiver, and
 * a way to start the runtime on its own persisted state.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { routeThroughLocalProxy, type Database } from '../lib/postgres.ts';
import { startReceiver, type Receiver } from '../lib/receiver.ts';
import { bundleWorker, startRuntime, type Bundle, type Runtime } from '../lib/runtime.ts';
import { scratchDatabase } from '../lib/scratch-db.ts';
import { connectApi, type Api } from '../lib/switchyard-api.ts';
import { startWsProxy, type WsProxy } from '../lib/ws-proxy.ts';

export interface FaultEnv {
  work: string;
  bundle: Bundle;
  database: Database;
  workerProxy: WsProxy;
  receiver: Receiver;
  adminSecret: string;
  encryptionKey: string;
  log(line: string): void;
  cleanup(): Promise<void>;
}

export interface ScenarioOutcome {
  pass: boolean;
  lines: string[];
  problems: string[];
}

export type Scenario = (env: FaultEnv) => Promise<ScenarioOutcome>;

export async function setupFaultEnv(log: (line: string) => void): Promise<FaultEnv> {
  const work = await mkdtemp(join(tmpdir(), 'switchyard-faults-'));
  const cleanups: (() => Promise<unknown>)[] = [() => rm(work, { recursive: true, force: true })];
  const bundle = await bundleWorker(join(work, 'bundle'));
  const harnessProxy = await startWsProxy();
  cleanups.push(() => harnessProxy.close());
  routeThroughLocalProxy(harnessProxy.endpoint);
  const database = await scratchDatabase('switchyard_faults');
  cleanups.push(() => database.stop());
  const workerProxy = await startWsProxy();
  cleanups.push(() => workerProxy.close());
  const receiver = await startReceiver();
  cleanups.push(() => receiver.close());
  return {
    work,
    bundle,
    database,
    workerProxy,
    receiver,
    adminSecret: randomBytes(32).toString('base64url'),
    encryptionKey: randomBytes(32).toString('base64'),
    log,
    async cleanup() {
      for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
    },
  };
}

export interface Launched {
  runtime: Runtime;
  api: Api;
  /** Worker log lines (warnings and errors), for the report when a scenario fails. */
  logs: string[];
}

/** Starts the runtime on `stateDir` (kept across restarts) against `databaseUrl`. */
export async function launch(
  env: FaultEnv,
  options: { stateDir: string; databaseUrl?: string; bindings?: Record<string, string>; port?: number },
): Promise<Launched> {
  const logs: string[] = [];
  const runtime = await startRuntime({
    kind: 'bundle',
    script: env.bundle.script,
    persistDir: options.stateDir,
    port: options.port,
    // the redrive sweep, on a faster clock than production's every minute after five
    cronEverySeconds: 5,
    // wrangler.toml's static assets in front, as a deploy has them (the fuzzing reaches / and /console/)
    assets: true,
    onLog: (line) => {
      logs.push(line);
      if (process.env.FAULTS_VERBOSE) console.error(line);
    },
    bindings: {
      ADMIN_JWT_SECRET: env.adminSecret,
      ENCRYPTION_KEY: env.encryptionKey,
      DATABASE_URL: options.databaseUrl ?? env.database.url,
      NEON_WS_PROXY: env.workerProxy.endpoint,
      EGRESS_ALLOWLIST: new URL(env.receiver.url).host,
      REDRIVE_AFTER_SECONDS: '20',
      ...options.bindings,
    },
  });
  return { runtime, api: await connectApi(runtime.url, env.adminSecret), logs };
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns true or `timeoutMs` passes; returns whether it succeeded. */
export async function until(check: () => Promise<boolean>, timeoutMs: number, everyMs = 250): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return true;
    if (Date.now() > deadline) return false;
    await sleep(everyMs);
  }
}

/**
 * FAULTS_SHARDS=4 npm run test:faults: every scenario's tenants spread their events over that many
 * logs, so the ledgers show nothing lost and no per-key order broken with shards > 1 too.
 */
export const FAULT_SHARDS = Math.min(64, Math.max(1, Number(process.env.FAULTS_SHARDS ?? 1) || 1));
