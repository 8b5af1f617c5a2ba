/**
 * The clients of the live stream on a 4-shard tenant, against a real runtime (test-runtime.ts): the
 * merged stream is in `(received_at, sequence)` order, so `sequence` is not monotonic across it. The
 * SDK's `streamEvents` (SSE) and the CLI's `tail` (WebSocket) both connect through a local TCP proxy
 * that cuts every connection in the middle of the traffic; each must end up with every event exactly
 * once, per key in the order it was sent, resuming with the per-shard comma list. The console's
 * "try this filter on an event" (console/src/lib/try-where.ts) reads the same merged stream.
 */
import { createServer, connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { type StreamMessage, shardOfSequence, streamEvents } from '../../packages/client/src/index.ts';
import { startCli } from './cli-harness.ts';
import { cloudEvent, ingest, type Source, startTestRuntime, type TestRuntime } from './test-runtime.ts';

// loaded at run time: src/ and console/ use extensionless imports and their own globals, which the
// scripts' tsconfig (node16, no DOM) does not type-check
const load = <T>(path: string) => import(/* @vite-ignore */ path) as Promise<T>;
const { ownerOf, slotOf } = await load<{ slotOf(key: string): number; ownerOf(slot: number, shards: number): number }>('../../src/tenancy/shard-routing');
const consoleApi = await load<{ connect(token: string): unknown }>('../../console/src/lib/api');
const { tryWhere } = await load<{
  tryWhere(tenant: string, types: string[], where: Record<string, unknown> | null, sequence: number): Promise<boolean>;
}>('../../console/src/lib/try-where');

const SHARDS = 4;
const PER_KEY = 4;

let starting: Promise<TestRuntime> | undefined;
const runtime = () => (starting ??= startTestRuntime('switchyard-shard-stream'));
afterAll(async () => (await starting?.catch(() => undefined))?.close(), 60_000);

/** Two keys on each shard, so every shard has traffic. */
function keysPerShard(): string[] {
  const byShard: string[][] = Array.from({ length: SHARDS }, () => []);
  for (let i = 0; byShard.some((k) => k.length < 2); i++) {
    const key = `customer-${i}`;
    const shard = ownerOf(slotOf(key), SHARDS);
    if (byShard[shard]!.length < 2) byShard[shard]!.push(key);
  }
  return byShard.flat();
}

/** A TCP proxy to `target` whose `cut()` drops every open connection, as a network loss would. */
async function startCutProxy(target: string) {
  const { hostname, port } = new URL(target);
  const open = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(Number(port), hostname);
    for (const socket of [client, upstream]) {
      open.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => {
        open.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    cut: () => {
      for (const socket of open) socket.destroy();
    },
    close: () => {
      for (const socket of open) socket.destroy();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

/** A 4-shard tenant with one source, made through the admin API of the shared runtime. */
async function shardedSource(t: Awaited<ReturnType<typeof runtime>>, name: string): Promise<Source> {
  const tenant = await t.api<{ id: string; shards: number }>('POST', '/v1/tenants', { name, shards: SHARDS });
  expect(tenant.json.shards).toBe(SHARDS);
  const created = await t.api<{ id: string; secret: string }>('POST', `/v1/tenants/${tenant.json.id}/sources`, { name: `${name} source` });
  return { tenantId: tenant.json.id, sourceId: created.json.id, secret: created.json.secret, ingestUrl: `${t.runtime.url}/v1/ingest/${created.json.id}` };
}

async function until(check: () => boolean, what: () => string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting: ${what()}`);
    await sleep(100);
  }
}

type Received = { sequence: number; partitionkey?: string; data: { n: number } };

/** Per key, the `n`s in the order received; with every sent `n` exactly once overall. */
function byKey(events: Received[]): Record<string, number[]> {
  const keys: Record<string, number[]> = {};
  for (const e of events) (keys[e.partitionkey ?? ''] ??= []).push(e.data.n);
  return keys;
}

describe('stream clients on a 4-shard tenant', () => {
  it('listen restarted with the same name resumes after the listener cursor: each shard exactly after its last reported event', {
    timeout: 300_000,
  }, async () => {
    const t = await runtime();
    const source = await shardedSource(t, 'shard listen');
    const keys = keysPerShard();
    const sendRound = async (n: number) => {
      const answer = await ingest(
        source,
        keys.map((key) => cloudEvent('orders.created', { n }, { partitionkey: key })),
      );
      expect(answer.status).toBe(202);
      return answer.json.results!.map((r) => r.id!);
    };
    type Delivery = { type: string; sequence: number; event_id: string };
    const deliveries = (cli: { lines: { text: string }[] }) => cli.lines.map((l) => JSON.parse(l.text) as Delivery).filter((m) => m.type === 'delivery');
    const args = ['listen', '--tenant', source.tenantId, '--forward-to', `${t.receiver.url}/listen-shards`, '--name', 'shards', '--json'];

    await sendRound(1);
    await sendRound(2);
    const first = startCli([...args, '--since', '0'], t.env);
    let forwarded: Delivery[] = [];
    try {
      await until(
        () => deliveries(first).length >= keys.length * 2,
        () => `listen ${first.lines.length}; ${first.stderr.join(' | ')}`,
        60_000,
      );
      forwarded = deliveries(first);
    } finally {
      expect(await first.interrupt()).toBe(0);
    }
    // the merged stream is out of sequence order: one last_sequence cannot say where each shard stopped
    expect(forwarded.some((d, i) => i > 0 && d.sequence < forwarded[i - 1]!.sequence)).toBe(true);
    const lastPerShard = [0, 1, 2, 3].map((s) => Math.max(...forwarded.filter((d) => shardOfSequence(d.sequence) === s).map((d) => d.sequence)));
    const listener = await t.api<{ cursor: string; last_sequence: number }>('POST', `/v1/tenants/${source.tenantId}/listeners`, { name: 'shards' });
    expect(listener.json).toMatchObject({ cursor: lastPerShard.join(','), last_sequence: Math.max(...lastPerShard) });

    const fresh = await sendRound(3);
    const again = startCli(args, t.env);
    try {
      await until(
        () => deliveries(again).length >= fresh.length,
        () => `listen again ${again.lines.length}; ${again.stderr.join(' | ')}`,
        60_000,
      );
      await sleep(1_000); // a replayed event would arrive now
      expect(
        deliveries(again)
          .map((d) => d.event_id)
          .sort(),
      ).toEqual([...fresh].sort());
    } finally {
      expect(await again.interrupt()).toBe(0);
    }
  });

  it('SDK and CLI tail get every event exactly once across a cut connection, resuming per shard', { timeout: 300_000 }, async () => {
    const t = await runtime();
    const source = await shardedSource(t, 'shard stream');
    const keys = keysPerShard();
    const proxy = await startCutProxy(t.runtime.url);
    let n = 0;
    const expected: Record<string, number[]> = {};
    /** One round: one event per key, in one batch (so every shard appends). */
    const sendRound = async () => {
      const events = keys.map((key) => {
        (expected[key] ??= []).push(++n);
        return cloudEvent('orders.created', { n }, { partitionkey: key });
      });
      const answer = await ingest(source, events);
      expect(answer.status).toBe(202);
      expect(answer.json.results?.every((r) => r.status === 202 || r.status === 201)).toBe(true);
    };

    // the first half is stored before the clients start: they read it as the backlog after 0
    for (let round = 0; round < PER_KEY / 2; round++) await sendRound();

    const abort = new AbortController();
    const sdkEvents: Received[] = [];
    const sdkReady: StreamMessage[] = [];
    const reconnects: (string | null)[] = [];
    const sdk = (async () => {
      for await (const message of streamEvents({
        baseUrl: proxy.url,
        token: t.token,
        tenantId: source.tenantId,
        sinceSequence: 0,
        maxReconnectDelayMs: 200,
        signal: abort.signal,
        onReconnect: (info) => reconnects.push(info.cursor),
      })) {
        if (message.type === 'event') sdkEvents.push(message.event as unknown as Received);
        else sdkReady.push(message);
      }
    })();
    const tail = startCli(['tail', '--tenant', source.tenantId, '--since', '0', '--json'], { ...t.env, SWITCHYARD_URL: proxy.url });
    const tailEvents = () => tail.lines.map((l) => JSON.parse(l.text) as Received);
    try {
      const half = keys.length * (PER_KEY / 2);
      await until(
        () => sdkEvents.length >= half && tail.lines.length >= half && sdkReady.length > 0,
        () => `sdk ${sdkEvents.length}, tail ${tail.lines.length}; ${tail.stderr.join(' | ')}`,
        60_000,
      );
      // every shard has a last sequence now: a wrong resume would replay or skip whole shards
      const ready = sdkReady[0] as { type: 'ready'; cursor?: string };
      expect(ready.cursor?.split(',')).toHaveLength(SHARDS);

      proxy.cut();
      for (let round = PER_KEY / 2; round < PER_KEY; round++) await sendRound();
      const total = keys.length * PER_KEY;
      await until(
        () => sdkEvents.length >= total && tail.lines.length >= total,
        () => `sdk ${sdkEvents.length}, tail ${tail.lines.length}; ${tail.stderr.join(' | ')}`,
        60_000,
      );
      await sleep(1_000); // a repeat would arrive now

      for (const events of [sdkEvents, tailEvents()]) {
        expect(events).toHaveLength(total);
        expect(new Set(events.map((e) => e.data.n)).size).toBe(total);
        expect(byKey(events)).toEqual(expected);
      }
      // the stream really is out of sequence order, and both clients reconnected with the per-shard list
      expect(sdkEvents.some((e, i) => i > 0 && e.sequence < sdkEvents[i - 1]!.sequence)).toBe(true);
      expect(reconnects.some((since) => typeof since === 'string' && since.split(',').length === SHARDS)).toBe(true);
      expect(tail.stderr.some((l) => l.includes('connection lost'))).toBe(true);

      // Ctrl-C names the per-shard position, and a new tail from it gets only what came after
      expect(await tail.interrupt()).toBe(0);
      const resume = /resume with --since (\S+)/.exec(tail.stderr.join('\n'))?.[1];
      expect(resume?.split(',')).toHaveLength(SHARDS);
      const again = startCli(['tail', '--tenant', source.tenantId, '--since', resume!, '--json'], t.env);
      try {
        await again.waitForLine((l) => l.startsWith('Ready'), 30_000, 'stderr');
        await sendRound();
        await until(
          () => again.lines.length >= keys.length,
          () => `tail again ${again.lines.length}`,
        );
        await sleep(500);
        expect(again.lines.map((l) => (JSON.parse(l.text) as Received).data.n).sort((a, b) => a - b)).toEqual(
          Array.from({ length: keys.length }, (_, i) => total + i + 1),
        );
      } finally {
        expect(await again.interrupt()).toBe(0);
      }
    } finally {
      abort.abort();
      await sdk.catch(() => undefined);
      expect(await tail.interrupt()).toBe(0);
      await proxy.close();
    }

    // the console's filter check: only the event's own shard decides, whatever the other shards replay first
    Object.assign(globalThis, { window: { location: { origin: t.runtime.url } } });
    consoleApi.connect(t.token);
    const sent = sdkEvents.filter((e) => e.data.n > keys.length);
    for (const shard of [0, SHARDS - 1]) {
      const event = sent.find((e) => shardOfSequence(e.sequence) === shard)!;
      // other shards' earlier events (higher sequences for shard 0) come first on the merged stream
      expect(await tryWhere(source.tenantId, [], null, event.sequence)).toBe(true);
      expect(await tryWhere(source.tenantId, ['orders.*'], { 'data.n': { $gte: event.data.n } }, event.sequence)).toBe(true);
      expect(await tryWhere(source.tenantId, ['orders.*'], { 'data.n': { $gt: event.data.n } }, event.sequence)).toBe(false);
    }
  });
});
