import { runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { PlannedDelivery } from '../../src/delivery/fan-out';
import { dropDispatched, finishOrdered, pendingDispatch, stageDeliveries, upgradeDispatchSchema } from '../../src/durable/dispatch-store';
import { adoptHandoffPage, type HandoffPage, nextHandoffPage } from '../../src/durable/slot-handoff-store';
import { releaseSlots } from '../../src/durable/slot-move-store';
import { slotOf } from '../../src/tenancy/shard-routing';
import { logWithEarlierTable, testEnv } from '../fixtures/api';

const KEY = 'k-line';

/** An ordered delivery of event `sequence` on line (sub_1, KEY). */
const lined = (id: string, sequence: number): PlannedDelivery => ({
  id,
  subscriptionId: 'sub_1',
  eventId: `evt_${sequence}`,
  sequence,
  ordered: true,
  partitionKey: KEY,
  priority: 'normal',
});

/** The delivery ids of the messages staged so far, which it forgets (as the drain does once the queue took them). */
function drain(sql: SqlStorage): string[] {
  const ids: string[] = [];
  for (let b = pendingDispatch(sql, 100); b; b = pendingDispatch(sql, 100)) {
    ids.push(...b.rows.map((r) => String((JSON.parse(r.body) as { delivery_id: string }).delivery_id)));
    dropDispatched(sql, b.lane, b.rows.at(-1)!.id);
  }
  return ids;
}

/** Finishes each released delivery in turn; the ids in the order the line released them. */
function finishAll(sql: SqlStorage, released: string[]): string[] {
  for (let i = 0; i < released.length; i++) {
    finishOrdered(sql, 'tn_1', 'sub_1', KEY, released[i]!);
    released.push(...drain(sql));
  }
  return released;
}

const keyColumns = (sql: SqlStorage) =>
  sql
    .exec<{ name: string }>("SELECT name FROM pragma_table_info('ordered_line') WHERE pk > 0 ORDER BY pk")
    .toArray()
    .map((c) => c.name);

describe('ordered line key', () => {
  it('rebuilds a line table keyed by sequence alone, keeping its rows and columns, and does nothing the second time', async () => {
    const stub = testEnv.TENANT_LOG.getByName(`line-rekey-${crypto.randomUUID()}`);
    const out = await runInDurableObject(stub, (_log, state) =>
      state.storage.transactionSync(() => {
        const sql = state.storage.sql;
        // the shape of a log from before lane ranks and received_at: the old key and priority only
        sql.exec('DROP TABLE ordered_line');
        sql.exec(`CREATE TABLE ordered_line (
          subscription_id TEXT NOT NULL, partition_key TEXT NOT NULL, sequence INTEGER NOT NULL, delivery_id TEXT NOT NULL,
          PRIMARY KEY (subscription_id, partition_key, sequence)) WITHOUT ROWID`);
        sql.exec('ALTER TABLE ordered_line ADD COLUMN priority TEXT');
        sql.exec("INSERT INTO ordered_line VALUES ('sub_1', 'k', 1, 'dlv_1', 'high'), ('sub_1', 'k', 2, 'dlv_2', NULL), ('sub_2', '', 1, 'dlv_3', 'low')");
        // the old key ignores another delivery of a sequence
        sql.exec("INSERT OR IGNORE INTO ordered_line (subscription_id, partition_key, sequence, delivery_id) VALUES ('sub_1', 'k', 1, 'dlv_9')");
        const before = sql.exec('SELECT count(*) AS n FROM ordered_line').one().n;

        upgradeDispatchSchema(sql);
        const key = keyColumns(sql);
        const columns = sql.exec('SELECT name, type, "notnull", dflt_value FROM pragma_table_info(\'ordered_line\') ORDER BY cid').toArray();
        const rows = sql.exec('SELECT * FROM ordered_line ORDER BY subscription_id, sequence').toArray();
        const definition = sql.exec("SELECT sql FROM sqlite_master WHERE name = 'ordered_line'").one().sql;
        const leftovers = sql.exec("SELECT name FROM sqlite_master WHERE name LIKE 'ordered_line_%'").toArray();

        // now a second delivery of a sequence has its own row, and the same delivery still only one
        sql.exec("INSERT OR IGNORE INTO ordered_line (subscription_id, partition_key, sequence, delivery_id) VALUES ('sub_1', 'k', 1, 'dlv_9')");
        sql.exec("INSERT OR IGNORE INTO ordered_line (subscription_id, partition_key, sequence, delivery_id) VALUES ('sub_1', 'k', 1, 'dlv_1')");
        const lineOfOne = sql.exec("SELECT delivery_id FROM ordered_line WHERE sequence = 1 AND subscription_id = 'sub_1' ORDER BY delivery_id").toArray();

        upgradeDispatchSchema(sql);
        return {
          before,
          key,
          columns,
          rows,
          leftovers,
          lineOfOne,
          unchanged: sql.exec("SELECT sql FROM sqlite_master WHERE name = 'ordered_line'").one().sql === definition,
          after: sql.exec('SELECT count(*) AS n FROM ordered_line').one().n,
        };
      }),
    );
    expect(out.before).toBe(3);
    expect(out.key).toEqual(['subscription_id', 'partition_key', 'sequence', 'delivery_id']);
    expect(out.columns).toEqual([
      { name: 'subscription_id', type: 'TEXT', notnull: 1, dflt_value: null },
      { name: 'partition_key', type: 'TEXT', notnull: 1, dflt_value: null },
      { name: 'sequence', type: 'INTEGER', notnull: 1, dflt_value: null },
      { name: 'delivery_id', type: 'TEXT', notnull: 1, dflt_value: null },
      { name: 'priority', type: 'TEXT', notnull: 0, dflt_value: null },
      { name: 'rank', type: 'INTEGER', notnull: 1, dflt_value: '0' },
      { name: 'received_at', type: 'INTEGER', notnull: 0, dflt_value: null },
    ]);
    expect(out.rows).toEqual([
      { subscription_id: 'sub_1', partition_key: 'k', sequence: 1, delivery_id: 'dlv_1', priority: 'high', rank: 0, received_at: null },
      { subscription_id: 'sub_1', partition_key: 'k', sequence: 2, delivery_id: 'dlv_2', priority: null, rank: 0, received_at: null },
      { subscription_id: 'sub_2', partition_key: '', sequence: 1, delivery_id: 'dlv_3', priority: 'low', rank: 0, received_at: null },
    ]);
    expect(out.leftovers).toEqual([]);
    expect(out.lineOfOne).toEqual([{ delivery_id: 'dlv_1' }, { delivery_id: 'dlv_9' }]);
    // the second run rebuilt nothing and lost nothing
    expect(out.unchanged).toBe(true);
    expect(out.after).toBe(4);
  });

  it('keeps every column a log holds, ranks and received_at included, when it rebuilds', async () => {
    const stub = testEnv.TENANT_LOG.getByName(`line-rekey-full-${crypto.randomUUID()}`);
    const rows = await runInDurableObject(stub, (_log, state) =>
      state.storage.transactionSync(() => {
        const sql = state.storage.sql;
        sql.exec('DROP TABLE ordered_line');
        sql.exec(`CREATE TABLE ordered_line (
          subscription_id TEXT NOT NULL, partition_key TEXT NOT NULL, sequence INTEGER NOT NULL, delivery_id TEXT NOT NULL,
          priority TEXT, rank INTEGER NOT NULL DEFAULT 0, received_at INTEGER,
          PRIMARY KEY (subscription_id, partition_key, sequence)) WITHOUT ROWID`);
        sql.exec("INSERT INTO ordered_line VALUES ('sub_1', 'k', 4, 'dlv_4', 'critical', -2, 1700000000004), ('sub_1', 'k', 5, 'dlv_5', NULL, 0, NULL)");
        upgradeDispatchSchema(sql);
        return { key: keyColumns(sql), rows: sql.exec('SELECT * FROM ordered_line ORDER BY sequence').toArray() };
      }),
    );
    expect(rows).toEqual({
      key: ['subscription_id', 'partition_key', 'sequence', 'delivery_id'],
      rows: [
        { subscription_id: 'sub_1', partition_key: 'k', sequence: 4, delivery_id: 'dlv_4', priority: 'critical', rank: -2, received_at: 1_700_000_000_004 },
        { subscription_id: 'sub_1', partition_key: 'k', sequence: 5, delivery_id: 'dlv_5', priority: null, rank: 0, received_at: null },
      ],
    });
  });

  it('rebuilds the line table of a log of the previous version when it starts again', async () => {
    const stub = await logWithEarlierTable('line-rekey-start', 'ordered_line', [
      `CREATE TABLE ordered_line (
        subscription_id TEXT NOT NULL, partition_key TEXT NOT NULL, sequence INTEGER NOT NULL, delivery_id TEXT NOT NULL,
        priority TEXT, rank INTEGER NOT NULL DEFAULT 0, received_at INTEGER,
        PRIMARY KEY (subscription_id, partition_key, sequence)) WITHOUT ROWID`,
      "INSERT INTO ordered_line VALUES ('sub_1', 'k', 1, 'dlv_1', 'normal', 0, 1700000000001)",
    ]);
    expect((await stub.status()).orderedDepth).toBe(1);
    const key = await runInDurableObject(stub, (_log, state) => keyColumns(state.storage.sql));
    expect(key).toEqual(['subscription_id', 'partition_key', 'sequence', 'delivery_id']);
  });

  it('releases two deliveries of one event in turn, and a re-staged delivery only once', async () => {
    const stub = testEnv.TENANT_LOG.getByName(`line-twice-${crypto.randomUUID()}`);
    const out = await runInDurableObject(stub, (_log, state) =>
      state.storage.transactionSync(() => {
        const sql = state.storage.sql;
        // the originals: dlv_m (event 1) in flight, dlv_n (event 2) behind it
        stageDeliveries(sql, 'tn_1', [lined('dlv_m', 1), lined('dlv_n', 2)]);
        const first = drain(sql);
        // a replay's deliveries of both events (one id sorts before the original, one after), then the originals' batch flushed again
        stageDeliveries(sql, 'tn_1', [lined('dlv_a', 1), lined('dlv_z', 2)]);
        stageDeliveries(sql, 'tn_1', [lined('dlv_m', 1), lined('dlv_n', 2)]);
        const meanwhile = drain(sql);
        const depth = sql.exec('SELECT count(*) AS n FROM ordered_line').one().n;
        const released = finishAll(sql, first);
        return { first: released.slice(0, 1), meanwhile, depth, released, left: sql.exec('SELECT count(*) AS n FROM ordered_line').one().n };
      }),
    );
    expect(out.first).toEqual(['dlv_m']);
    // nothing more goes while the head is in flight
    expect(out.meanwhile).toEqual([]);
    expect(out.depth).toBe(4);
    // by sequence, then delivery id; the one in flight first whatever its id
    expect(out.released).toEqual(['dlv_m', 'dlv_a', 'dlv_n', 'dlv_z']);
    expect(out.left).toBe(0);
  });

  it('hands both deliveries of one event to the new owner of a moved line, which releases them in the same order', async () => {
    const slot = slotOf(KEY);
    const old = testEnv.TENANT_LOG.getByName(`line-twice-from-${crypto.randomUUID()}`);
    const handoff = await runInDurableObject(old, (_log, state) =>
      state.storage.transactionSync(() => {
        const sql = state.storage.sql;
        // the originals, dlv_m in flight, then a replay's deliveries of the same events
        stageDeliveries(sql, 'tn_1', [lined('dlv_m', 1), lined('dlv_n', 2)]);
        stageDeliveries(sql, 'tn_1', [lined('dlv_a', 1), lined('dlv_z', 2)]);
        drain(sql);
        releaseSlots(sql, { epoch: 1, from: 1, to: 2, state: 'fenced', fencedAt: null, fenceSequence: null, slots: new Map([[slot, 1]]) }, 0);
        return JSON.parse(nextHandoffPage(sql, 1)!.body) as HandoffPage;
      }),
    );
    expect(handoff.lines.map((l) => [l.inflight, l.rows.map((r) => r.delivery_id)])).toEqual([['dlv_m', ['dlv_a', 'dlv_m', 'dlv_n', 'dlv_z']]]);

    const owner = testEnv.TENANT_LOG.getByName(`line-twice-to-${crypto.randomUUID()}`);
    const released = await runInDurableObject(owner, (_log, state) =>
      state.storage.transactionSync(() => {
        const sql = state.storage.sql;
        adoptHandoffPage(sql, new Map(), { epoch: 1, from: 0, page: 0, pages: 1, handoff });
        return finishAll(sql, ['dlv_m']);
      }),
    );
    expect(released).toEqual(['dlv_m', 'dlv_a', 'dlv_n', 'dlv_z']);
  });
});
