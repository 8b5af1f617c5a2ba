import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { utf8 } from '../../src/lib/encoding';
import { ownerOf, SEQUENCE_STRIDE, shardLog, shardOfSequence, slotOf } from '../../src/tenancy/shard-routing';
import { adminToken, api, call, createSource, createTenant, eventually, ingest, makeEvent, testEnv, type TestSource } from '../fixtures/api';

const BATCH = 'application/cloudevents-batch+json';
const SHARDS = 4;

type Accepted = { id: string; sequence: number };
type Streamed = { id: string; sequence: number; received_at: string; partitionkey: string; data: { key: number; n: number } };
type SseFrame = { id?: string; event?: string; data?: string };

/** Two keys on each of the 4 shards, so the test never depends on luck. */
function keysPerShard(): string[] {
  const byShard: string[][] = Array.from({ length: SHARDS }, () => []);
  for (let i = 0; byShard.some((k) => k.length < 2); i++) {
    const key = `account-${i}`;
    const shard = ownerOf(slotOf(key), SHARDS);
    if (byShard[shard]!.length < 2) byShard[shard]!.push(key);
  }
  return byShard.flat();
}

/** Sends one batch with one event per key (`n` counts per key in send order); 202 for each. */
async function sendRound(source: TestSource, keys: string[], n: number): Promise<Accepted[]> {
  const res = await ingest(
    source,
    keys.map((key, k) => makeEvent({ partitionkey: key, data: { key: k, n } })),
    BATCH,
  );
  expect(res.status).toBe(202);
  const { results } = await res.json<{ results: (Accepted & { status: number })[] }>();
  expect(results.every((r) => r.status === 202)).toBe(true);
  return results;
}

/** An SSE stream's frames as they arrive (comments skipped). */
async function openSse(tenantId: string, headers: Record<string, string> = {}, query = '') {
  const res = await call(`/v1/tenants/${tenantId}/events/stream${query}`, {
    headers: { accept: 'text/event-stream', authorization: `Bearer ${await adminToken()}`, ...headers },
  });
  if (res.status !== 200) throw new Error(`expected 200, got ${res.status}: ${await res.text()}`);
  const reader = res.body!.getReader();
  reader.closed.catch(() => {});
  const decoder = new TextDecoder();
  const frames: SseFrame[] = [];
  let buffer = '';
  const pump = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (!block.startsWith(':')) frames.push(Object.fromEntries(block.split('\n').map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 2)])));
      }
    }
  })().catch(() => {});
  const events = () => frames.filter((f) => f.event === 'event').map((f) => ({ id: f.id!, ...(JSON.parse(f.data!) as { sequence: number; event: Streamed }) }));
  return {
    frames,
    events,
    until: (count: number) => eventually(async () => events().length >= count, 20_000, 20),
    close: async () => {
      await reader.cancel();
      await pump;
    },
  };
}

/** Every stored event of the tenant through the events API, in its `(received_at, sequence)` order. */
async function listed(tenantId: string, count: number): Promise<string[]> {
  return eventually(
    async () => {
      const ids: string[] = [];
      let cursor: string | null = null;
      do {
        const page: { body: { data: { id: string }[]; next_cursor: string | null } } = await api(
          'GET',
          `/v1/tenants/${tenantId}/events?limit=200${cursor ? `&cursor=${cursor}` : ''}`,
        );
        ids.push(...page.body.data.map((e) => e.id));
        cursor = page.body.next_cursor;
      } while (cursor);
      return ids.length >= count && ids;
    },
    15_000,
    100,
  );
}

const positionOf = (e: Streamed) => [Date.parse(e.received_at), e.sequence] as const;

describe('live event stream of a tenant with 4 shards', () => {
  it('merges the shards in the events API order, each event once, per key in send order, across the backlog seam, and resumes from a comma cursor', async () => {
    const tenantId = await createTenant('stream mux', { shards: SHARDS });
    const source = await createSource(tenantId);
    const keys = keysPerShard();
    const sent: Accepted[] = [];
    for (let n = 0; n < 5; n++) sent.push(...(await sendRound(source, keys, n)));
    // the first rounds reach Postgres, so each shard's backlog reads Postgres then its outbox
    await eventually(async () => {
      const depths = await Promise.all([0, 1, 2, 3].map(async (s) => (await shardLog(testEnv, tenantId, s).status()).outboxDepth));
      return depths.every((d) => d === 0);
    });
    for (let n = 5; n < 8; n++) sent.push(...(await sendRound(source, keys, n)));
    const backlog = sent.length;

    // events keep arriving while the stream reads its backlog and goes live
    let stop = false;
    const producing = (async () => {
      for (let n = 8; !stop && n < 60; n++) sent.push(...(await sendRound(source, keys, n)));
    })();
    const stream = await openSse(tenantId, {}, '?since_sequence=0');
    await eventually(async () => stream.frames.some((f) => f.event === 'ready'), 20_000, 20);
    await new Promise((r) => setTimeout(r, 300));
    stop = true;
    await producing;
    await stream.until(sent.length);
    // a duplicate would arrive within a tick
    await new Promise((r) => setTimeout(r, 300));
    const events = stream.events();

    // exactly once, every acknowledged event
    expect(events).toHaveLength(sent.length);
    expect(new Set(events.map((e) => e.event.id))).toEqual(new Set(sent.map((s) => s.id)));
    expect(new Set(events.map((e) => shardOfSequence(e.sequence)))).toEqual(new Set([0, 1, 2, 3]));
    // strictly rising (received_at, sequence)
    for (let i = 1; i < events.length; i++) {
      const [t0, s0] = positionOf(events[i - 1]!.event);
      const [t1, s1] = positionOf(events[i]!.event);
      expect(t1 > t0 || (t1 === t0 && s1 > s0), `event ${i}`).toBe(true);
    }
    // per key, the send order
    for (const k of keys.keys()) {
      const ns = events.filter((e) => e.event.data.key === k).map((e) => e.event.data.n);
      expect(ns, keys[k]).toEqual(Array.from({ length: ns.length }, (_, i) => i));
    }
    // one ready, after every event that was stored before the stream opened, carrying the cursor
    const readyAt = stream.frames.findIndex((f) => f.event === 'ready');
    expect(stream.frames.filter((f) => f.event === 'ready')).toHaveLength(1);
    const early = new Set(sent.slice(0, backlog).map((s) => s.id));
    const beforeReady = stream.frames.slice(0, readyAt).filter((f) => f.event === 'event').length;
    expect(events.slice(0, beforeReady).filter((e) => early.has(e.event.id))).toHaveLength(backlog);
    const ready = JSON.parse(stream.frames[readyAt]!.data!) as { type: string; head: number; cursor: string };
    expect(ready.cursor).toBe(stream.frames[readyAt]!.id);
    // the events API lists the same events in the same order
    expect(await listed(tenantId, sent.length)).toEqual(events.map((e) => e.event.id));

    // each SSE id is the per-shard cursor: the last sequence of every shard emitted so far
    const k = Math.floor(events.length / 3);
    const expectedCursor = [0, 1, 2, 3]
      .map((s) => events.slice(0, k + 1).findLast((e) => shardOfSequence(e.sequence) === s)?.sequence)
      .filter((s) => s !== undefined)
      .join(',');
    expect(events[k]!.id).toBe(expectedCursor);
    await stream.close();

    // resuming from it, by query or by Last-Event-ID, gives exactly the rest, in the same order
    const rest = events.slice(k + 1).map((e) => e.event.id);
    const byQuery = await openSse(tenantId, {}, `?since_sequence=${events[k]!.id}`);
    const byHeader = await openSse(tenantId, { 'last-event-id': events[k]!.id });
    await Promise.all([byQuery.until(rest.length), byHeader.until(rest.length)]);
    expect(byQuery.events().map((e) => e.event.id)).toEqual(rest);
    expect(byHeader.events().map((e) => e.event.id)).toEqual(rest);
    // a shard left out of the cursor starts at its beginning: only shard 2's position given
    const shard2 = events.slice(0, k + 1).findLast((e) => shardOfSequence(e.sequence) === 2)!.sequence;
    const partial = await openSse(tenantId, {}, `?since_sequence=${shard2}`);
    const expected = events.filter((e) => shardOfSequence(e.sequence) !== 2 || e.sequence > shard2).map((e) => e.event.id);
    await partial.until(expected.length);
    expect(partial.events().map((e) => e.event.id)).toEqual(expected);
    await Promise.all([byQuery.close(), byHeader.close(), partial.close()]);
  }, 60_000);

  it('serves a WebSocket live: merged events, ping/pong, and a shard closing with 4401 closes the client with it', async () => {
    const tenantId = await createTenant('stream mux ws', { shards: SHARDS });
    const source = await createSource(tenantId);
    const keys = keysPerShard();
    const token = await new SignJWT({ scope: 'tenant', tenant: tenantId })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + 5)
      .sign(utf8(testEnv.ADMIN_JWT_SECRET));
    const res = await call(`/v1/tenants/${tenantId}/events/stream?types=${encodeURIComponent('**')}`, {
      headers: { upgrade: 'websocket', authorization: `Bearer ${token}` },
    });
    expect(res.status).toBe(101);
    const ws = res.webSocket!;
    ws.accept();
    const frames: { type: string; sequence?: number; head?: number; cursor?: string; event?: Streamed }[] = [];
    let pongs = 0;
    ws.addEventListener('message', (e) => {
      if (e.data === 'pong') pongs++;
      else frames.push(JSON.parse(e.data as string));
    });
    const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.addEventListener('close', (e) => resolve({ code: e.code, reason: e.reason })));
    await eventually(async () => frames.some((f) => f.type === 'ready'));
    // an empty tenant: every shard at its beginning
    expect(frames[0]).toEqual({ type: 'ready', head: 0, cursor: '0' });
    const sent: Accepted[] = [];
    for (let n = 0; n < 3; n++) sent.push(...(await sendRound(source, keys, n)));
    await eventually(async () => frames.filter((f) => f.type === 'event').length >= sent.length);
    const events = frames.filter((f) => f.type === 'event');
    expect(new Set(events.map((e) => e.event!.id))).toEqual(new Set(sent.map((s) => s.id)));
    for (let i = 1; i < events.length; i++) {
      const [t0, s0] = positionOf(events[i - 1]!.event!);
      const [t1, s1] = positionOf(events[i]!.event!);
      expect(t1 > t0 || (t1 === t0 && s1 > s0), `event ${i}`).toBe(true);
    }
    ws.send('ping');
    await eventually(async () => pongs === 1);
    expect(await closed).toEqual({ code: 4401, reason: 'token_expired' });
  }, 30_000);

  it('cuts off an SSE client that stops reading once its queue passes the limit, while ingest keeps answering 202', async () => {
    const tenantId = await createTenant('stream mux slow', { shards: SHARDS });
    const source = await createSource(tenantId);
    const keys = keysPerShard();
    const res = await call(`/v1/tenants/${tenantId}/events/stream`, {
      headers: { accept: 'text/event-stream', authorization: `Bearer ${await adminToken()}` },
    });
    const reader = res.body!.getReader();
    reader.closed.catch(() => {});
    const decoder = new TextDecoder();
    let text = '';
    while (!text.includes('event: ready')) text += decoder.decode((await reader.read()).value, { stream: true });
    // nothing is read from here on: ~6.4 MB against a 4 MiB queue
    const padding = 'x'.repeat(8_000);
    let sent = 0;
    for (let b = 0; b < 8; b++) {
      const batch = Array.from({ length: 100 }, (_, i) => makeEvent({ partitionkey: keys[i % keys.length], data: { i, padding } }));
      const answer = await ingest(source, batch, BATCH);
      expect(answer.status).toBe(202);
      await answer.arrayBuffer();
      sent += batch.length;
    }
    let received = 0;
    const ended = await (async () => {
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return 'done';
          received += decoder.decode(value, { stream: true }).split('event: event').length - 1;
        }
      } catch (error) {
        return String(error);
      }
    })();
    expect(ended).not.toBe('done');
    expect(received).toBeLessThan(sent);
  }, 30_000);

  it('refuses a bad cursor with 422, and closes the stream with 4410 when the tenant is deleted', async () => {
    const tenantId = await createTenant('stream mux cursors', { shards: SHARDS });
    const token = await adminToken();
    const refusal = async (query: string, headers: Record<string, string> = {}) => {
      const res = await call(`/v1/tenants/${tenantId}/events/stream${query}`, {
        headers: { accept: 'text/event-stream', authorization: `Bearer ${token}`, ...headers },
      });
      const body = await res.json<{ code: string; errors: { pointer: string }[] }>();
      return { status: res.status, code: body.code, pointer: body.errors?.[0]?.pointer };
    };
    const bad = { status: 422, code: 'validation_failed', pointer: '/since_sequence' };
    const s = (shard: number, n: number) => shard * SEQUENCE_STRIDE + n;
    expect(await refusal(`?since_sequence=${s(1, 5)},${s(1, 9)}`)).toEqual(bad); // two of one shard
    expect(await refusal(`?since_sequence=${s(4, 1)}`)).toEqual(bad); // shard 4 of 4
    expect(await refusal(`?since_sequence=${Array.from({ length: 65 }, (_, i) => i).join(',')}`)).toEqual(bad);
    expect(await refusal('?since_sequence=1,,2')).toEqual(bad);
    expect(await refusal('?since_sequence=1234567890123456')).toEqual(bad); // 16 digits
    expect(await refusal('', { 'last-event-id': `${s(2, 1)},${s(2, 3)}` })).toEqual({ ...bad, pointer: '/last-event-id' });

    const stream = await openSse(tenantId, {}, `?since_sequence=${s(1, 0)},${s(3, 0)}`);
    await eventually(async () => stream.frames.some((f) => f.event === 'ready'));
    expect((await api('DELETE', `/v1/tenants/${tenantId}`)).status).toBe(204);
    await eventually(async () => stream.frames.some((f) => f.event === 'close'));
    expect(JSON.parse(stream.frames.find((f) => f.event === 'close')!.data!)).toEqual({ type: 'close', code: 4410, reason: 'tenant_deleted' });
    await stream.close();
  });

  it('ends a stream with 1012 when the shard count changes, and the reopened stream merges the new shards with nothing missed', async () => {
    const source = await createSource();
    const keys = keysPerShard();
    const before = await sendRound(source, keys, 0);
    const single = await openSse(source.tenantId, {}, '?since_sequence=0');
    await single.until(keys.length);
    expect((await api('PATCH', `/v1/tenants/${source.tenantId}`, { shards: SHARDS })).status).toBe(200);
    await eventually(async () => single.frames.some((f) => f.event === 'close'));
    expect(JSON.parse(single.frames.find((f) => f.event === 'close')!.data!)).toEqual({ type: 'close', code: 1012, reason: 'restarting' });
    await single.close();
    // the client resumes from its last id, now on the mux over the new shards
    const lastId = single.events().at(-1)!.id;
    const merged = await openSse(source.tenantId, { 'last-event-id': lastId });
    const after = await sendRound(source, keys, 1);
    await merged.until(keys.length);
    expect(merged.events().map((e) => e.event.id)).toEqual(expect.arrayContaining(after.map((a) => a.id)));
    expect(merged.events().some((e) => before.some((b) => b.id === e.event.id))).toBe(false);
    await merged.close();
  });
});
