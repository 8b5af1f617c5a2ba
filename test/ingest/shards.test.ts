import { describe, expect, it } from 'vitest';
import { idKey, ownerOf, SEQUENCE_STRIDE, shardLog, shardOfSequence, slotOf } from '../../src/tenancy/shard-routing';
import { adminToken, api, call, createSource, createTenant, eventually, ingest, listAllEvents, makeEvent, subscribeWebhook, testEnv } from '../fixtures/api';
import { received, receiverPath } from '../fixtures/receiver';

const BATCH = 'application/cloudevents-batch+json';
type Result = { status: number; sequence?: number; duplicate?: boolean; code?: string };
type Listed = { id: string; sequence: number; received_at: string; partitionkey?: string; data: { n: number } };

/** Two keys on each of the 4 shards, so the test never depends on luck. */
function keysPerShard(): string[] {
  const byShard: string[][] = [[], [], [], []];
  for (let i = 0; byShard.some((k) => k.length < 2); i++) {
    const key = `customer-${i}`;
    const shard = ownerOf(slotOf(key), 4);
    if (byShard[shard]!.length < 2) byShard[shard]!.push(key);
  }
  return byShard.flat();
}

describe('sharded tenant logs (4 shards)', () => {
  it('spreads keys over shards with per-key order, exact dedup across shards, ordered delivery per key, stable events pages, summed metrics and deletion of every shard', async () => {
    const tenantId = await createTenant('sharded', { shards: 4 });
    expect((await api<{ shards: number }>('GET', `/v1/tenants/${tenantId}`)).body.shards).toBe(4);
    const source = await createSource(tenantId);
    const { path, url } = receiverPath();
    await subscribeWebhook(source, url, { ordering: 'partition' });

    // 8 keys × 5 events, sent as two batches so that each key's order spans requests
    const keys = keysPerShard();
    const events = Array.from({ length: 40 }, (_, i) => makeEvent({ partitionkey: keys[i % 8], data: { n: Math.floor(i / 8) } }));
    const results: Result[] = [];
    for (const batch of [events.slice(0, 20), events.slice(20)]) {
      const res = await ingest(source, batch, BATCH);
      expect(res.status).toBe(202);
      results.push(...(await res.json<{ results: Result[] }>()).results);
    }
    expect(results.every((r) => r.status === 202 && r.duplicate === false)).toBe(true);
    const sequences = results.map((r) => r.sequence!);
    for (const [k, key] of keys.entries()) {
      const mine = sequences.filter((_, i) => i % 8 === k);
      // one shard per key, the one the slot names; sequences rise in send order
      expect(new Set(mine.map(shardOfSequence))).toEqual(new Set([ownerOf(slotOf(key), 4)]));
      expect(mine).toEqual([...mine].sort((a, b) => a - b));
    }
    expect(new Set(sequences.map(shardOfSequence))).toEqual(new Set([0, 1, 2, 3]));
    // each shard numbers from its own base
    expect(Math.min(...sequences.filter((s) => shardOfSequence(s) === 2))).toBe(2 * SEQUENCE_STRIDE + 1);

    // a resend is the duplicate of the original; the id reused with a key on another shard is a conflict
    const first = events[0]!;
    const resend = await ingest(source, first);
    expect(resend.status).toBe(202);
    expect(await resend.json()).toMatchObject({ sequence: sequences[0], duplicate: true });
    const otherKey = keys.find((k) => ownerOf(slotOf(k), 4) !== shardOfSequence(sequences[0]!))!;
    const reused = await ingest(source, { ...first, partitionkey: otherKey });
    expect(reused.status).toBe(422);
    expect(await reused.json()).toMatchObject({ code: 'idempotency_conflict' });
    // a keyless event (routed by its id) whose id is then reused with a key, both ways round, in one batch
    const keyless = makeEvent({ data: { n: 99 } });
    const idHome = ownerOf(slotOf(idKey(source.sourceId, String(keyless.id))), 4);
    const farKey = keys.find((k) => ownerOf(slotOf(k), 4) !== idHome)!;
    const mixed = await ingest(source, [keyless, { ...keyless, partitionkey: farKey }], BATCH);
    const [stored, clash] = (await mixed.json<{ results: Result[] }>()).results;
    expect(stored).toMatchObject({ status: 202, duplicate: false });
    expect(shardOfSequence(stored!.sequence!)).toBe(idHome);
    expect(clash).toMatchObject({ status: 422, code: 'idempotency_conflict' });

    // the id's home is the shard of the reusing key: its own append finds the claim (for another key) and settles it
    const claimed = makeEvent({ data: { n: 98 } });
    const home = ownerOf(slotOf(idKey(source.sourceId, String(claimed.id))), 4);
    const away = keys.find((k) => ownerOf(slotOf(k), 4) !== home)!;
    const atHome = keys.find((k) => ownerOf(slotOf(k), 4) === home)!;
    expect((await ingest(source, { ...claimed, partitionkey: away })).status).toBe(202);
    const contended = await ingest(source, { ...claimed, partitionkey: atHome });
    expect(contended.status).toBe(422);
    expect(await contended.json()).toMatchObject({ code: 'idempotency_conflict' });

    // ordered delivery per key, each key's line on its own shard
    const delivered = await eventually(
      async () => {
        const got = (await received(path)).map((r) => JSON.parse(r.body) as Listed);
        return got.length >= 42 ? got : null;
      },
      20_000,
      100,
    );
    for (const key of keys)
      expect(
        delivered.filter((e) => e.partitionkey === key && e.data.n < 5).map((e) => e.data.n),
        key,
      ).toEqual([0, 1, 2, 3, 4]);

    // the events API: every event once, in (received_at, sequence) order, across pages of 7
    const listed = await eventually(
      async () => {
        const all = await listAllEvents<Listed>(tenantId, 7);
        return all.length >= 42 ? all : null;
      },
      10_000,
      100,
    );
    expect(listed).toHaveLength(42);
    expect(new Set(listed.map((e) => e.id)).size).toBe(42);
    const positions = listed.map((e) => [Date.parse(e.received_at), e.sequence] as const);
    for (let i = 1; i < positions.length; i++) {
      const [t0, s0] = positions[i - 1]!;
      const [t1, s1] = positions[i]!;
      expect(t1 > t0 || (t1 === t0 && s1 > s0), `row ${i}`).toBe(true);
    }

    // Prometheus sums the shards: 42 events accepted
    const scrape = await call('/metrics', { headers: { authorization: `Bearer ${await adminToken()}` } });
    expect(await scrape.text()).toContain(`switchyard_ingest_events_total{tenant="${tenantId}"} 42`);

    // the same count again is no change (the live cut-over is test/durable/shard-move.test.ts)
    const change = await api('PATCH', `/v1/tenants/${tenantId}`, { shards: 4 });
    expect(change.status).toBe(200);
    expect(change.body).toMatchObject({ shards: 4, shard_change: null });

    // deletion closes every shard
    expect((await api('DELETE', `/v1/tenants/${tenantId}`)).status).toBe(204);
    for (const shard of [0, 1, 2, 3]) {
      const answer = await shardLog(testEnv, tenantId, shard).append({ tenantId, dedupWindowSeconds: 60, configVersion: 1 << 30, items: [] });
      expect(answer.kind, `shard ${shard}`).toBe('gone');
    }
  }, 40_000);

  it('changes the shard count of a tenant that has accepted no event, and routes by the new count once the change is done', async () => {
    const source = await createSource();
    const changed = await api<{ shards: number }>('PATCH', `/v1/tenants/${source.tenantId}`, { shards: 4 });
    expect(changed.status).toBe(200);
    expect(changed.body.shards).toBe(4);
    expect((await api('PATCH', `/v1/tenants/${source.tenantId}`, { shards: 65 })).status).toBe(422);
    // nothing to hand over: the change is done as soon as the old shard reported
    await eventually(async () => (await api<{ shard_change: { state: string } }>('GET', `/v1/tenants/${source.tenantId}`)).body.shard_change.state === 'done');
    const key = keysPerShard()[7]!;
    const res = await ingest(source, makeEvent({ partitionkey: key }));
    expect(res.status).toBe(202);
    expect(shardOfSequence((await res.json<{ sequence: number }>()).sequence)).toBe(3);
  });
});
