import { describe, expect, it } from 'vitest';
import { ownerOf, slotOf } from '../../src/tenancy/shard-routing';
import { api, createSource, createTenant, eventually, ingest, listAllEvents, makeEvent, subscribeWebhook, type TestSource } from '../fixtures/api';
import { arrivalsByKey, receiverPath } from '../fixtures/receiver';

const BATCH = 'application/cloudevents-batch+json';
const PACE_MS = 500;
type Result = { status: number; sequence?: number; duplicate?: boolean; code?: string };
type Listed = { id: string; sequence: number; partitionkey?: string; data: { n: number } };
type Change = { epoch: number; from: number; to: number; state: 'moving' | 'done'; released_slots: number; moving_slots: number };
type Tenant = { shards: number; shard_change: Change | null };

/** `perShard` keys on each shard of `shards`, so that keys move whatever the change. */
function keysOver(shards: number, prefix: string, perShard = 2): string[] {
  const byShard: string[][] = Array.from({ length: shards }, () => []);
  for (let i = 0; byShard.some((k) => k.length < perShard); i++) {
    const key = `${prefix}-${i}`;
    const shard = ownerOf(slotOf(key), shards);
    if (byShard[shard]!.length < perShard) byShard[shard]!.push(key);
  }
  return byShard.flat();
}

/**
 * One sender per key, each sending its key's events one at a time (`data.n` counts up), resending an
 * event a moving slot refused until it is stored: per key, the send order is the order of `n`.
 */
function startSenders(source: TestSource, keys: string[], acks: Map<string, Result>) {
  const sent = new Map(keys.map((k) => [k, 0]));
  let stop = false;
  let refused = 0;
  const send = async (key: string) => {
    while (!stop) {
      const n = sent.get(key)!;
      const event = makeEvent({ partitionkey: key, data: { n } });
      for (let attempt = 0; ; attempt++) {
        expect(attempt, 'an event kept being refused').toBeLessThan(40);
        const res = await ingest(source, event);
        const body = await res.json<Result & { code?: string }>();
        if (res.status === 202) {
          acks.set(String(event.id), body);
          break;
        }
        // the only refusal a move may cause: nothing written, retry
        expect({ status: res.status, code: body.code }).toEqual({ status: 503, code: 'shard_moving' });
        refused++;
      }
      sent.set(key, n + 1);
      // paced: each key's ordered deliveries go one at a time, so every event sent costs the receiver wait
      await new Promise((r) => setTimeout(r, PACE_MS));
    }
  };
  const running = Promise.all(keys.map(send));
  return {
    /** Resolves once every key has sent at least `n` events. */
    most: () => Math.max(...sent.values()),
    until: (n: number) => eventually(async () => [...sent.values()].every((c) => c >= n), 20_000, 10),
    stop: async () => {
      stop = true;
      await running;
      return { sent, refused };
    },
  };
}

async function tenantOf(tenantId: string): Promise<Tenant> {
  const res = await api<Tenant>('GET', `/v1/tenants/${tenantId}`);
  expect(res.status).toBe(200);
  return res.body;
}

/** The tenant's events with these partition keys, once `expected` of them are listed. */
async function listAll(tenantId: string, keys: string[], expected: number): Promise<Listed[]> {
  const mine = new Set(keys);
  return eventually(
    async () => {
      const all = (await listAllEvents<Listed>(tenantId)).filter((e) => mine.has(e.partitionkey ?? ''));
      return all.length >= expected ? all : null;
    },
    15_000,
    100,
  );
}

/**
 * Sends rounds of events for `keys` before, during and after a change of the shard count to `to`,
 * then checks what a user would: every ack stored once, per-key order in the events API and at the
 * receiver, and resends of pre-move events answered as duplicates with their first sequence.
 */
async function moveUnderLoad(source: TestSource, keys: string[], to: number, path: string): Promise<{ acks: Map<string, Result> }> {
  const { tenantId } = source;
  const acks = new Map<string, Result>();
  const senders = startSenders(source, keys, acks);
  await senders.until(2);
  const patched = await api<Tenant>('PATCH', `/v1/tenants/${tenantId}`, { shards: to });
  expect(patched.status).toBe(200);
  expect(patched.body.shards).toBe(to);
  expect(patched.body.shard_change).toMatchObject({ to, state: expect.stringMatching(/^(moving|done)$/) });
  const moving = patched.body.shard_change!;
  expect(moving.moving_slots).toBeGreaterThan(0);
  // sending goes on while the slots move, and after
  const tenant = await eventually(async () => {
    const t = await tenantOf(tenantId);
    return t.shard_change?.state === 'done' ? t : null;
  }, 15_000);
  expect(tenant.shard_change).toMatchObject({ epoch: moving.epoch, to, released_slots: moving.moving_slots });
  // and at least four events per key in all, however fast the move was
  await senders.until(Math.max(senders.most() + 1, 4));
  const { sent } = await senders.stop();
  // every ack is stored once, and per key the events API lists them in send order
  const listed = await listAll(tenantId, keys, acks.size);
  expect(listed).toHaveLength(acks.size);
  expect(new Set(listed.map((e) => e.sequence))).toEqual(new Set([...acks.values()].map((r) => r.sequence)));
  for (const key of keys)
    expect(
      listed.filter((e) => e.partitionkey === key).map((e) => e.data.n),
      key,
    ).toEqual(Array.from({ length: sent.get(key)! }, (_, i) => i));

  // the receiver saw each key's deliveries in order, each once
  const delivered = await arrivalsByKey(path, keys, acks.size, 20_000);
  for (const key of keys) expect(delivered.get(key), key).toEqual(Array.from({ length: sent.get(key)! }, (_, i) => i));

  // a resend of a pre-move event is its duplicate, with its first sequence, from whichever shard owns its key now
  const originals = listed.filter((e) => e.data.n === 0);
  expect(originals).toHaveLength(keys.length);
  return { acks };
}

/** Sends the events of the first round again (same bodies) and expects duplicates with the first sequences. */
async function resendFirstRound(source: TestSource, sent: Record<string, unknown>[], acks: Map<string, Result>): Promise<void> {
  const res = await ingest(source, sent, BATCH);
  expect(res.status).toBe(202);
  const results = (await res.json<{ results: Result[] }>()).results;
  for (const [i, r] of results.entries()) expect(r).toMatchObject({ status: 202, duplicate: true, sequence: acks.get(String(sent[i]!.id))!.sequence });
}

describe('live change of the shard count', () => {
  it('moves keys from 1 to 4 shards under load without losing, reordering or forgetting an event', async () => {
    const tenantId = await createTenant('move 1 to 4');
    const source = await createSource(tenantId);
    const { path, url } = receiverPath();
    await subscribeWebhook(source, url, { ordering: 'partition' });
    const keys = keysOver(4, 'grow');

    // before the move: a guarded subject whose slot moves, and the events to resend later
    const subject = keysOver(4, 'account').find((k) => ownerOf(slotOf(k), 4) !== 0)!;
    let head = 0;
    for (let i = 0; i < 2; i++) {
      const res = await ingest(source, makeEvent({ subject, expectedsequence: head, data: { n: -1 } }));
      expect(res.status).toBe(202);
      head = (await res.json<{ sequence: number }>()).sequence;
    }
    const early = keys.map((key) => makeEvent({ partitionkey: `${key}-early`, data: { n: -2 } }));
    const earlyAcks = new Map<string, Result>();
    const first = (await (await ingest(source, early, BATCH)).json<{ results: Result[] }>()).results;
    for (const [i, r] of first.entries()) earlyAcks.set(String(early[i]!.id), r);
    expect(first.every((r) => r.status === 202 && !r.duplicate)).toBe(true);
    const onceKey = keysOver(4, 'once').find((k) => ownerOf(slotOf(k), 4) !== 0)!;
    const once = makeEvent({ partitionkey: onceKey, data: { n: -4 } });
    expect((await ingest(source, once)).status).toBe(202);

    const { acks } = await moveUnderLoad(source, keys, 4, path);
    expect(acks.size).toBeGreaterThan(keys.length * 3);
    await resendFirstRound(source, early, earlyAcks);

    // a pre-move id reused with another key, which routes to another shard, is still a conflict: the
    // claims the 1-shard log never needed were written before its slots moved (a resend, as above,
    // would have written one itself, so this event was sent once only)
    const otherKey = keysOver(4, 'reuse').find((k) => ![0, ownerOf(slotOf(onceKey), 4)].includes(ownerOf(slotOf(k), 4)))!;
    const conflict = await ingest(source, { ...once, partitionkey: otherKey, data: { n: -3 } });
    expect(conflict.status).toBe(422);
    expect(await conflict.json()).toMatchObject({ code: 'idempotency_conflict' });

    // the subject's head moved with its slot: the pre-move head is still the one to expect
    const stale = await ingest(source, makeEvent({ subject, expectedsequence: head - 1, data: { n: -1 } }));
    expect(stale.status).toBe(409);
    expect(await stale.json()).toMatchObject({ code: 'sequence_conflict', current_sequence: head });
    const guarded = await ingest(source, makeEvent({ subject, expectedsequence: head, data: { n: -1 } }));
    expect(guarded.status).toBe(202);
  }, 60_000);

  it('shrinks from 4 to 2 shards under load, the retired shards handing all their keys over', async () => {
    const tenantId = await createTenant('move 4 to 2', { shards: 4 });
    const source = await createSource(tenantId);
    const { path, url } = receiverPath();
    await subscribeWebhook(source, url, { ordering: 'partition' });
    // lighter: one key per shard, two of them on the retired shards
    const keys = keysOver(4, 'shrink', 1);
    const early = keys.map((key) => makeEvent({ partitionkey: `${key}-early`, data: { n: -2 } }));
    const earlyAcks = new Map<string, Result>();
    const first = (await (await ingest(source, early, BATCH)).json<{ results: Result[] }>()).results;
    for (const [i, r] of first.entries()) earlyAcks.set(String(early[i]!.id), r);
    expect(first.every((r) => r.status === 202)).toBe(true);
    await moveUnderLoad(source, keys, 2, path);
    await resendFirstRound(source, early, earlyAcks);
  }, 60_000);

  it('refuses a second change while one is moving, and takes the same count as no change', async () => {
    const source = await createSource();
    const { tenantId } = source;
    expect((await ingest(source, makeEvent({ partitionkey: 'k' }))).status).toBe(202);
    // both lock the tenant row: the second sees the first moving (a move takes an alarm and Postgres round trips)
    const [a, b] = await Promise.all([api('PATCH', `/v1/tenants/${tenantId}`, { shards: 4 }), api('PATCH', `/v1/tenants/${tenantId}`, { shards: 2 })]);
    const statuses = [a.status, b.status].sort();
    expect(statuses).toEqual([200, 409]);
    expect((a.status === 409 ? a : b).body).toMatchObject({ status: 409, code: 'shard_change_in_progress' });
    const done = await eventually(async () => {
      const t = await tenantOf(tenantId);
      return t.shard_change?.state === 'done' ? t : null;
    }, 15_000);
    const same = await api<Tenant>('PATCH', `/v1/tenants/${tenantId}`, { shards: done.shards });
    expect(same.status).toBe(200);
    expect(same.body.shard_change).toEqual(done.shard_change);
  }, 30_000);
});
