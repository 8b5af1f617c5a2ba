/**
 * The live stream across a Durable Object eviction: the deploy bundle runs under workerd with its state
 * on disk (scripts/lib/runtime.ts); a listener follows the tenant's events over a WebSocket while a
 * producer keeps sending; the whole runtime is SIGKILLed (the TenantLog and its sockets die with it)
 * and started again on the same state. The listener reconnects with `since_sequence` = the last
 * sequence it processed and must end up with every stored sequence exactly once, in order.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { routeThroughLocalProxy, type Database } from '../../scripts/lib/postgres.ts';
import { bundleWorker, restartRuntime, startRuntime, type Runtime } from '../../scripts/lib/runtime.ts';
import { scratchDatabase } from '../../scripts/lib/scratch-db.ts';
import { connectApi, createSource, makeEvent, send, signedIngest } from '../../scripts/lib/switchyard-api.ts';
import { startWsProxy, type WsProxy } from '../../scripts/lib/ws-proxy.ts';

const EVENTS = 300;
const BATCH = 10;

type Frame = { type: 'event'; sequence: number } | { type: 'ready'; head: number };

/** Follows the stream, reconnecting with since_sequence after every close until stopped. */
function follow(url: () => string, token: string) {
  const received: number[] = [];
  const resumedFrom: number[] = [];
  let stopped = false;
  let socket: WebSocket | null = null;
  const connect = () => {
    if (stopped) return;
    const since = received.at(-1) ?? 0;
    resumedFrom.push(since);
    const ws = new WebSocket(`${url().replace(/^http/, 'ws')}?since_sequence=${since}`, { headers: { authorization: `Bearer ${token}` } });
    socket = ws;
    ws.on('message', (data) => {
      const frame = JSON.parse(String(data)) as Frame;
      if (frame.type === 'event') received.push(frame.sequence);
    });
    // a refused or dropped connection: try again shortly (the runtime may be restarting)
    ws.on('error', () => {});
    ws.on('close', () => {
      if (!stopped) setTimeout(connect, 200);
    });
  };
  connect();
  return {
    received,
    resumedFrom,
    stop() {
      stopped = true;
      socket?.close();
    },
  };
}

describe('live stream across a runtime restart', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
  });

  it('resumes from since_sequence after the TenantLog is evicted, without gap or duplicate', async () => {
    const work = await mkdtemp(join(tmpdir(), 'switchyard-stream-'));
    cleanups.push(() => rm(work, { recursive: true, force: true }));
    const harnessProxy: WsProxy = await startWsProxy();
    cleanups.push(() => harnessProxy.close());
    routeThroughLocalProxy(harnessProxy.endpoint);
    const database: Database = await scratchDatabase('switchyard_stream');
    cleanups.push(() => database.stop());
    const workerProxy = await startWsProxy();
    cleanups.push(() => workerProxy.close());
    const bundle = await bundleWorker(join(work, 'bundle'));
    const adminSecret = randomBytes(32).toString('base64url');
    let runtime: Runtime = await startRuntime({
      kind: 'bundle',
      script: bundle.script,
      persistDir: join(work, 'state'),
      onLog: () => {},
      bindings: {
        ADMIN_JWT_SECRET: adminSecret,
        ENCRYPTION_KEY: randomBytes(32).toString('base64'),
        DATABASE_URL: database.url,
        NEON_WS_PROXY: workerProxy.endpoint,
      },
    });
    cleanups.push(() => runtime.stop());

    const api = await connectApi(runtime.url, adminSecret);
    const source = await createSource(api, 'stream restart');
    const listener = follow(() => `${runtime.url}/v1/tenants/${source.tenantId}/events/stream`, api.token);

    // the producer resends a batch until it is answered (a resend after the kill deduplicates)
    const acked = new Set<number>();
    let restarting: Promise<void> | null = null;
    for (let first = 0; first < EVENTS; first += BATCH) {
      const events = Array.from({ length: BATCH }, (_, i) => makeEvent(`stream-restart-${first + i}`, first + i));
      for (;;) {
        await restarting;
        const res = await send(runtime.url, signedIngest(source, events, 'batch'), 5_000);
        if (res.status === 202) {
          for (const r of (res.json as { results: { sequence: number }[] }).results) acked.add(r.sequence);
          break;
        }
        await sleep(100);
      }
      if (first === EVENTS / 2) {
        // mid-stream: the runtime dies with the listener connected, then comes back on the same state
        await runtime.kill();
        await sleep(300);
        restarting = restartRuntime(runtime).then((r) => {
          runtime = r;
        });
      }
    }

    const head = Math.max(...acked);
    expect(acked.size).toBe(EVENTS);
    const deadline = Date.now() + 30_000;
    while ((listener.received.at(-1) ?? 0) < head && Date.now() < deadline) await sleep(100);
    listener.stop();

    expect(listener.received).toEqual(Array.from({ length: head }, (_, i) => i + 1));
    // it did lose its connection and resumed from what it had processed
    expect(listener.resumedFrom.length).toBeGreaterThan(1);
    expect(listener.resumedFrom.slice(1).some((since) => since > 0)).toBe(true);
  }, 240_000);
});
