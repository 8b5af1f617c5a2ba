import { runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { PlannedDelivery } from '../../src/delivery/fan-out';
import { dropDispatched, finishOrdered, pendingDispatch, stageDeliveries } from '../../src/durable/dispatch-store';
import { forgetExpired } from '../../src/durable/outbox-store';
import { adoptHandoffPage, HANDOFF_PAGE_BYTES, type HandoffPage, nextHandoffPage, upgradeHandoffTable } from '../../src/durable/slot-handoff-store';
import { releaseSlots } from '../../src/durable/slot-move-store';
import { ownerOf, slotOf } from '../../src/tenancy/shard-routing';
import { api, createSource, createTenant, eventually, ingest, makeEvent, subscribeWebhook, testEnv, withTestDb } from '../fixtures/api';
import { arrivalsByKey, behave, receiverPath } from '../fixtures/receiver';

const BATCH = 'application/cloudevents-batch+json';
type Result = { status: number; sequence?: number; duplicate?: boolean };
type Tenant = { shards: number; shard_change: { state: 'moving' | 'done' } | null };

/** `count` keys that shard `shard` of 4 owns. */
function keysOn(shard: number, prefix: string, count: number): string[] {
  const keys: string[] = [];
  for (let i = 0; keys.length < count; i++) if (ownerOf(slotOf(`${prefix}-${i}`), 4) === shard) keys.push(`${prefix}-${i}`);
  return keys;
}

async function ingestAll(source: Awaited<ReturnType<typeof createSource>>, events: Record<string, unknown>[]): Promise<Result[]> {
  const results: Result[] = [];
  for (let at = 0; at < events.length; at += 500) {
    const res = await ingest(source, events.slice(at, at + 500), BATCH);
    expect(res.status).toBe(202);
    results.push(...(await res.json<{ results: Result[] }>()).results);
  }
  return results;
}

describe('paged shard-move handoff', () => {
  it('moves a dedup window of several handoff pages from 1 to 4 shards, resends staying duplicates and ordered lines in order', async () => {
    const tenantId = await createTenant('paged handoff');
    const source = await createSource(tenantId);
    const { path, url } = receiverPath();
    // slow answers keep the ordered lines full while the slots move
    await behave(path, { default: { status: 200, delayMs: 150 } });
    await subscribeWebhook(source, url, { ordering: 'partition' });

    // events no subscription takes, with long ids, all on keys that move to shard 1: its handoff alone
    // is well over three pages (each dedup row holds at least its id, a 64-char hash and the source id)
    const bulkKeys = keysOn(1, 'bulk', 8);
    const rows = Math.ceil((3.3 * HANDOFF_PAGE_BYTES) / 340);
    const bulk = Array.from({ length: rows }, (_, i) =>
      makeEvent({ type: 'bulk.loaded', id: `bulk-${i}-${'x'.repeat(200)}-${crypto.randomUUID()}`, partitionkey: bulkKeys[i % bulkKeys.length], data: { i } }),
    );
    const atLeast = bulk.reduce((sum, e) => sum + String(e.id).length + 64 + source.sourceId.length, 0);
    expect(atLeast).toBeGreaterThan(3 * HANDOFF_PAGE_BYTES);
    const first = await ingestAll(source, bulk);
    expect(first.every((r) => r.status === 202 && !r.duplicate)).toBe(true);

    // ordered deliveries on keys of every new shard (and one that stays), lined up behind each other
    const lineKeys = [0, 1, 2, 3].flatMap((shard) => keysOn(shard, 'line', 1));
    const ordered = lineKeys.flatMap((key) => Array.from({ length: 8 }, (_, n) => makeEvent({ partitionkey: key, data: { n } })));
    expect((await ingestAll(source, ordered)).every((r) => r.status === 202)).toBe(true);

    const patched = await api<Tenant>('PATCH', `/v1/tenants/${tenantId}`, { shards: 4 });
    expect(patched.status).toBe(200);
    await eventually(async () => (await api<Tenant>('GET', `/v1/tenants/${tenantId}`)).body.shard_change?.state === 'done', 15_000, 100);

    // every event from every page is still its own duplicate, with its first sequence, on its new owner
    const again = await ingestAll(source, bulk);
    for (const [i, r] of again.entries()) expect(r, String(i)).toMatchObject({ status: 202, duplicate: true, sequence: first[i]!.sequence });
    // a new event on a moved key is written after the move
    const fresh = await ingestAll(source, [makeEvent({ type: 'bulk.loaded', partitionkey: bulkKeys[0] })]);
    expect(fresh[0]).toMatchObject({ status: 202 });
    expect(fresh[0]!.duplicate).toBeFalsy();

    // nothing lost: every event stored once (the last one reaches Postgres with its shard's next flush)
    const count = () =>
      withTestDb(async (db) => Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM events WHERE tenant_id = $1', [tenantId])).rows[0]!.n));
    await eventually(async () => (await count()) >= rows + ordered.length + 1, 10_000, 100);
    expect(await count()).toBe(rows + ordered.length + 1);

    // each key's deliveries arrived once each, in order, whether their line moved or not
    const delivered = await arrivalsByKey(path, lineKeys, ordered.length, 15_000);
    for (const key of lineKeys) expect(delivered.get(key), key).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  }, 60_000);

  it('adopts the slots only with the last page and ignores a page resent after adoption', async () => {
    const stub = testEnv.TENANT_LOG.getByName(`handoff-pages-${crypto.randomUUID()}`);
    const key = 'k-paged';
    const slot = slotOf(key);
    const dedup = (ceId: string, sequence: number) => ({
      source_id: 'src_1',
      ce_id: ceId,
      sha256: 'h',
      id: `evt-${ceId}`,
      sequence,
      expires_at: Date.now() + 60_000,
      slot,
    });
    const line = (rows: HandoffPage['lines'][number]['rows'], inflight: string | null) => ({ subscription_id: 'sub_1', partition_key: key, rows, inflight });
    const page = (p: Partial<HandoffPage>): HandoffPage => ({ slots: [slot], dedup: [], claims: [], heads: [], lines: [], floor: 1, pruned: false, ...p });
    const first = page({
      dedup: [dedup('a', 1)],
      lines: [line([{ sequence: 1, delivery_id: 'dl-a', priority: null, rank: -2, received_at: 1_700_000_000_001 }], 'dl-x')],
    });
    // a row as the previous version sends it: without its received_at
    const second = page({ dedup: [dedup('b', 2)], lines: [line([{ sequence: 2, delivery_id: 'dl-b', priority: null, rank: -1 }], null)] });
    const adopt = (handoff: HandoffPage, p: number) => stub.adopt({ tenantId: 'tn_paged', shard: 1, epoch: 3, from: 0, page: p, pages: 2, handoff });
    const state = () =>
      runInDurableObject(stub, (_log, s) => ({
        adopted: s.storage.sql.exec('SELECT slot FROM slot_adopted').toArray(),
        dedup: s.storage.sql.exec('SELECT ce_id FROM dedup ORDER BY ce_id').toArray(),
        line: s.storage.sql.exec('SELECT delivery_id, rank, received_at FROM ordered_line ORDER BY rank').toArray(),
      }));

    await adopt(first, 0);
    expect(await state()).toEqual({ adopted: [], dedup: [{ ce_id: 'a' }], line: [{ delivery_id: 'dl-a', rank: -2, received_at: 1_700_000_000_001 }] });
    await adopt(second, 1);
    expect(await state()).toEqual({
      adopted: [{ slot }],
      dedup: [{ ce_id: 'a' }, { ce_id: 'b' }],
      line: [
        { delivery_id: 'dl-a', rank: -2, received_at: 1_700_000_000_001 },
        { delivery_id: 'dl-b', rank: -1, received_at: null },
      ],
    });
    // the head was delivered since; a late resend of the first page must not line it up again
    await runInDurableObject(stub, (_log, s) => s.storage.sql.exec("DELETE FROM ordered_line WHERE delivery_id = 'dl-a'"));
    await adopt(first, 0);
    expect((await state()).line).toEqual([{ delivery_id: 'dl-b', rank: -1, received_at: null }]);
    // the adopted keys expire on their new owner like its own (their rows went into an expiry bucket)
    const left = await runInDurableObject(stub, (_log, s) => {
      forgetExpired(s.storage.sql, Date.now() + 3 * 60_000);
      return s.storage.sql.exec<{ n: number }>('SELECT count(*) AS n FROM dedup').one().n;
    });
    expect(left).toBe(0);
  });

  it("hands each ordered line row's received_at to the new owner, whose releases carry it", async () => {
    const key = 'k-received';
    const slot = slotOf(key);
    const line = (n: number, receivedAt?: number): PlannedDelivery => ({
      id: `dlv_${n}`,
      subscriptionId: 'sub_1',
      eventId: `evt_${n}`,
      sequence: n,
      ordered: true,
      partitionKey: key,
      priority: 'normal',
      ...(receivedAt === undefined ? {} : { receivedAt }),
    });
    const drain = (sql: SqlStorage, into: Record<string, unknown>[] = []) => {
      for (let b = pendingDispatch(sql, 100); b; b = pendingDispatch(sql, 100)) {
        into.push(...b.rows.map((r) => JSON.parse(r.body) as Record<string, unknown>));
        dropDispatched(sql, b.lane, b.rows.at(-1)!.id);
      }
      return into;
    };
    // the old owner: dlv_0, lined up before the column (none) and so the oldest, in flight; dlv_1 and dlv_2 behind it
    const old = testEnv.TENANT_LOG.getByName(`handoff-from-${crypto.randomUUID()}`);
    const handoff = await runInDurableObject(old, (_log, state) =>
      state.storage.transactionSync(() => {
        const sql = state.storage.sql;
        stageDeliveries(sql, 'tn_1', [line(0), line(1, 1_700_000_000_001), line(2, 1_700_000_000_002)]);
        drain(sql);
        releaseSlots(sql, { epoch: 1, from: 1, to: 2, state: 'fenced', fencedAt: null, fenceSequence: null, slots: new Map([[slot, 1]]) }, 0);
        return JSON.parse(nextHandoffPage(sql, 1)!.body) as HandoffPage;
      }),
    );
    expect(handoff.lines.map((l) => ({ inflight: l.inflight, rows: l.rows.map((r) => [r.delivery_id, r.received_at]) }))).toEqual([
      {
        inflight: 'dlv_0',
        rows: [
          ['dlv_0', null],
          ['dlv_1', 1_700_000_000_001],
          ['dlv_2', 1_700_000_000_002],
        ],
      },
    ]);

    const owner = testEnv.TENANT_LOG.getByName(`handoff-to-${crypto.randomUUID()}`);
    const released = await runInDurableObject(owner, (_log, state) =>
      state.storage.transactionSync(() => {
        const sql = state.storage.sql;
        expect(adoptHandoffPage(sql, new Map(), { epoch: 1, from: 0, page: 0, pages: 1, handoff })).toEqual([{ subscription_id: 'sub_1', partition_key: key }]);
        const sent: Record<string, unknown>[] = [];
        for (const id of ['dlv_0', 'dlv_1']) {
          finishOrdered(sql, 'tn_1', 'sub_1', key, id);
          drain(sql, sent);
        }
        return sent;
      }),
    );
    expect(released.map((b) => [b.delivery_id, b.event_received_at])).toEqual([
      ['dlv_1', 1_700_000_000_001],
      ['dlv_2', 1_700_000_000_002],
    ]);
  });

  it('reads a handoff stored by the previous version as page 0 of 1', async () => {
    const stub = testEnv.TENANT_LOG.getByName(`handoff-legacy-${crypto.randomUUID()}`);
    const next = await runInDurableObject(stub, (_log, s) => {
      const sql = s.storage.sql;
      sql.exec('DROP TABLE slot_handoff');
      sql.exec(
        'CREATE TABLE slot_handoff (epoch INTEGER NOT NULL, to_shard INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (epoch, to_shard)) WITHOUT ROWID',
      );
      sql.exec('INSERT INTO slot_handoff (epoch, to_shard, body) VALUES (2, 1, \'{"slots":[7]}\')');
      upgradeHandoffTable(sql);
      return nextHandoffPage(sql, 2);
    });
    expect(next).toEqual({ to: 1, page: 0, pages: 1, body: '{"slots":[7]}' });
  });
});
