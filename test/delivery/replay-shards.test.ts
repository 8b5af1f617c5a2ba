import { describe, expect, it } from 'vitest';
import { enforceTenantRetention } from '../../src/archive/retention-job';
import { ownerOf, slotOf } from '../../src/tenancy/shard-routing';
import { api, createSource, createTenant, eventually, ingest, makeEvent, subscribeWebhook, testEnv, withTestDb, type TestSource } from '../fixtures/api';
import { arrivalsByKey, receiverPath } from '../fixtures/receiver';

const BATCH = 'application/cloudevents-batch+json';
const DAY = 86_400_000;
type Replay = { id: string; status: string; events_matched: number; deliveries: number; restored_events: number; error: string | null };

/** `count` partition keys whose slot shard `shard` of `shards` owns. */
function keysOn(shards: number, shard: number, prefix: string, count: number): string[] {
  const keys: string[] = [];
  for (let i = 0; keys.length < count; i++) if (ownerOf(slotOf(`${prefix}-${i}`), shards) === shard) keys.push(`${prefix}-${i}`);
  return keys;
}

/** Sends `data.n` = `from`…`to`−1 for each key, one event at a time per key; the sequences by key and n. */
async function sendInTurn(source: TestSource, keys: string[], from: number, to: number): Promise<Map<string, number[]>> {
  const sequences = new Map(keys.map((k) => [k, [] as number[]]));
  await Promise.all(
    keys.map(async (key) => {
      for (let n = from; n < to; n++) {
        const res = await ingest(source, makeEvent({ partitionkey: key, data: { n } }));
        expect(res.status).toBe(202);
        sequences.get(key)!.push((await res.json<{ sequence: number }>()).sequence);
      }
    }),
  );
  return sequences;
}

async function replayDone(tenantId: string, body: Record<string, unknown>): Promise<Replay> {
  const started = await api<Replay>('POST', `/v1/tenants/${tenantId}/replays`, body);
  expect(started.status).toBe(202);
  return eventually(
    async () => {
      const r = await api<Replay>('GET', `/v1/tenants/${tenantId}/replays/${started.body.id}`);
      return r.body.status !== 'running' ? r.body : null;
    },
    20_000,
    100,
  );
}

describe('replays of a tenant with more than one shard', () => {
  it('deliver each key in the order it was sent after the key moved to a shard with a lower number', async () => {
    const tenantId = await createTenant('replay after shrink', { shards: 4 });
    const source = await createSource(tenantId);
    // keys of the shards a change to 2 retires: their slots move to shards 0 and 1
    const keys = [...keysOn(4, 2, 'shrink', 1), ...keysOn(4, 3, 'shrink', 1)];
    const before = await sendInTurn(source, keys, 0, 3);
    expect((await api('PATCH', `/v1/tenants/${tenantId}`, { shards: 2 })).status).toBe(200);
    await eventually(
      async () => (await api<{ shard_change: { state: string } | null }>('GET', `/v1/tenants/${tenantId}`)).body.shard_change?.state === 'done',
      15_000,
    );
    const after = await sendInTurn(source, keys, 3, 6);
    // what makes sequence order wrong here: each key's newer events have the smaller sequences
    for (const key of keys) expect(Math.max(...after.get(key)!), key).toBeLessThan(Math.min(...before.get(key)!));
    // every event stored before the replay walks them
    await eventually(async () => {
      const n = await withTestDb(
        async (db) => (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM events WHERE tenant_id = $1', [tenantId])).rows[0]!.n,
      );
      return n === keys.length * 6;
    }, 15_000);

    // a subscription made afterwards gets only the replay's deliveries, through its ordered lines
    const { path, url } = receiverPath();
    const sub = await subscribeWebhook(source, url, { ordering: 'partition' });
    const done = await replayDone(tenantId, { subscription_id: sub.id });
    expect(done).toMatchObject({ status: 'completed', events_matched: keys.length * 6, deliveries: keys.length * 6, error: null });
    const arrived = await arrivalsByKey(path, keys, keys.length * 6, 20_000);
    for (const key of keys) expect(arrived.get(key), key).toEqual([0, 1, 2, 3, 4, 5]);
  }, 60_000);

  it('walks archived events back in, every shard of a day, in (received_at, sequence) order', async () => {
    const tenantId = await createTenant('restore on shards', { shards: 2 });
    const source = await createSource(tenantId);
    const live = receiverPath();
    const sub = await subscribeWebhook(source, live.url, { ordering: 'partition' });
    const keys = [...keysOn(2, 0, 'restore', 2), ...keysOn(2, 1, 'restore', 2)];
    const events = [0, 1, 2].flatMap((n) => keys.map((key) => makeEvent({ partitionkey: key, data: { n } })));
    expect((await ingest(source, events, BATCH)).status).toBe(202);
    await arrivalsByKey(live.path, keys, events.length);
    // nothing pending when retention runs
    await eventually(() =>
      withTestDb(async (db) => {
        const r = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM deliveries WHERE tenant_id = $1 AND status = 'delivered'`, [tenantId]);
        return r.rows[0]!.n === events.length;
      }),
    );
    // 40 days ago, a second apart in the order they were stored; then archived and deleted
    const noon = Math.floor((Date.now() - 40 * DAY) / DAY) * DAY + DAY / 2;
    await withTestDb(async (db) => {
      await db.query(`INSERT INTO tenant_retention (tenant_id, checked_at) VALUES ($1, now()) ON CONFLICT (tenant_id) DO UPDATE SET checked_at = now()`, [
        tenantId,
      ]);
      await db.query(
        `UPDATE events e SET received_at = to_timestamp($2 / 1000.0) + o.n * interval '1 second'
           FROM (SELECT sequence, row_number() OVER (ORDER BY received_at, sequence) AS n FROM events WHERE tenant_id = $1) o
          WHERE e.tenant_id = $1 AND e.sequence = o.sequence`,
        [tenantId, noon],
      );
    });
    expect(await withTestDb((db) => enforceTenantRetention(db, testEnv, tenantId))).toMatchObject({
      archived: { events: events.length },
      deleted: { events: events.length },
    });

    const done = await replayDone(tenantId, {
      subscription_id: sub.id,
      from: new Date(noon - DAY).toISOString(),
      to: new Date(noon + DAY).toISOString(),
    });
    expect(done).toMatchObject({ status: 'completed', restored_events: events.length, events_matched: events.length, deliveries: events.length });
    // after the live deliveries, each key's again, in order
    const arrived = await arrivalsByKey(live.path, keys, 2 * events.length, 20_000);
    for (const key of keys) expect(arrived.get(key), key).toEqual([0, 1, 2, 0, 1, 2]);
  }, 60_000);
});
