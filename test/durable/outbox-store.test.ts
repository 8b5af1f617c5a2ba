import { runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { appendToOutbox, encodeOutbox, forgetExpired, outboxReader } from '../../src/durable/outbox-store';
import type { AppendItem } from '../../src/ingest/log-types';
import { logWithEarlierTable, testEnv } from '../fixtures/api';

const NOW = Date.parse('2026-01-02T03:04:05.000Z');

function item(ceId: string, data: unknown = {}, overrides: Partial<AppendItem> = {}): AppendItem {
  return {
    sourceId: 'src_1',
    ceId,
    sha256: `sha-${ceId}`,
    type: 'orders.created',
    subject: 'order-1',
    time: '2026-01-02T03:04:05Z',
    partitionKey: 'customer-7',
    correlationId: 'cor_1',
    causationId: null,
    json: JSON.stringify({ specversion: '1.0', id: ceId, source: '/shop', type: 'orders.created', data }),
    ...overrides,
  };
}

/** A fresh TenantLog's own SQLite (its constructor creates the tables); nothing reaches Postgres. */
async function withOutbox<T>(fn: (sql: SqlStorage) => T): Promise<T> {
  const stub = testEnv.TENANT_LOG.getByName(`outbox-store-${crypto.randomUUID()}`);
  return runInDurableObject(stub, (_log, state) => state.storage.transactionSync(() => fn(state.storage.sql)));
}

describe('outbox store', () => {
  it('sequences fresh items after the last sequence and answers repeats in the batch as duplicate or conflict', async () => {
    const out = await withOutbox((sql) =>
      appendToOutbox(sql, [item('a'), item('b'), item('a'), item('b', {}, { sha256: 'other' })], { lastSequence: 41, now: NOW, expiresAt: NOW + 60_000 }),
    );
    expect(out.lastSequence).toBe(43);
    expect(out.results.map((r) => [r.kind, r.sequence, 'duplicate' in r ? r.duplicate : undefined])).toEqual([
      ['accepted', 42, false],
      ['accepted', 43, false],
      ['accepted', 42, true],
      ['conflict', 43, undefined],
    ]);
  });

  it('finds an earlier append in the dedup window and forgets it once the window has passed', async () => {
    const [again, later] = await withOutbox((sql) => {
      appendToOutbox(sql, [item('a')], { lastSequence: 0, now: NOW, expiresAt: NOW + 60_000 });
      return [
        appendToOutbox(sql, [item('a')], { lastSequence: 1, now: NOW + 59_999, expiresAt: NOW + 120_000 }),
        appendToOutbox(sql, [item('a')], { lastSequence: 1, now: NOW + 60_000, expiresAt: NOW + 120_000 }),
      ];
    });
    expect(again.results).toEqual([{ kind: 'accepted', id: expect.any(String), sequence: 1, duplicate: true }]);
    expect(later).toMatchObject({ lastSequence: 2, results: [{ kind: 'accepted', sequence: 2, duplicate: false }] });
  });

  it('forgets each dedup key after its own window when keys of several windows interleave, by expiry buckets', async () => {
    const MINUTE = 60_000;
    const HOUR = 3_600_000;
    const seen = await withOutbox((sql) => {
      // sources differ in their window: a minute, an hour, a minute again
      let last = appendToOutbox(sql, [item('a')], { lastSequence: 0, now: NOW, expiresAt: NOW + MINUTE }).lastSequence;
      last = appendToOutbox(sql, [item('b', {}, { sourceId: 'src_2' })], { lastSequence: last, now: NOW, expiresAt: NOW + HOUR }).lastSequence;
      appendToOutbox(sql, [item('c'), item('d')], { lastSequence: last, now: NOW + 1, expiresAt: NOW + 1 + MINUTE });
      const keys = () =>
        sql
          .exec<{ ce_id: string }>('SELECT ce_id FROM dedup ORDER BY ce_id')
          .toArray()
          .map((r) => r.ce_id);
      const buckets = () => sql.exec<{ expires_at: number; first: number; last: number }>('SELECT * FROM dedup_bucket ORDER BY expires_at').toArray();
      const before = { keys: keys(), buckets: buckets() };
      forgetExpired(sql, NOW + MINUTE); // expired, but its bucket (the next whole minute) is not due: lookups check expires_at themselves
      const notDue = keys();
      forgetExpired(sql, NOW + 2 * MINUTE);
      const minutePassed = { keys: keys(), buckets: buckets() };
      forgetExpired(sql, NOW + HOUR + MINUTE);
      return { before, notDue, minutePassed, hourPassed: { keys: keys(), buckets: buckets() } };
    });
    const minute = Math.ceil((NOW + MINUTE) / MINUTE) * MINUTE;
    const hour = Math.ceil((NOW + HOUR) / MINUTE) * MINUTE;
    expect(seen.before.keys).toEqual(['a', 'b', 'c', 'd']);
    // one bucket per minute of expiry, each over the rowids of its keys (the minute's covers b's too)
    expect(seen.before.buckets).toEqual([
      { expires_at: minute, first: 1, last: 4 },
      { expires_at: hour, first: 2, last: 2 },
    ]);
    expect(seen.notDue).toEqual(['a', 'b', 'c', 'd']);
    // the hour's key stays, and the bucket that held it comes back at its expiry (merged with its own)
    expect(seen.minutePassed).toEqual({ keys: ['b'], buckets: [{ expires_at: hour, first: 1, last: 4 }] });
    expect(seen.hourPassed).toEqual({ keys: [], buckets: [] });
  });

  it('keeps the dedup table of a log made before expiry buckets, with its expiry index, and dedups and expires on it', async () => {
    const stub = await logWithEarlierTable('outbox-store-legacy', 'dedup', [
      `CREATE TABLE dedup (
        source_id TEXT NOT NULL, ce_id TEXT NOT NULL, sha256 TEXT NOT NULL, id TEXT NOT NULL,
        sequence INTEGER NOT NULL, expires_at INTEGER NOT NULL, slot INTEGER, PRIMARY KEY (source_id, ce_id)
      ) WITHOUT ROWID`,
      'CREATE INDEX dedup_expiry ON dedup (expires_at)',
    ]);
    const out = await runInDurableObject(stub, (_log, state) =>
      state.storage.transactionSync(() => {
        const sql = state.storage.sql;
        const first = appendToOutbox(sql, [item('a'), item('b')], { lastSequence: 0, now: NOW, expiresAt: NOW + 60_000 });
        const again = appendToOutbox(sql, [item('a'), item('b', {}, { sha256: 'other' })], { lastSequence: 2, now: NOW + 1, expiresAt: NOW + 60_001 });
        forgetExpired(sql, NOW + 60_000);
        return {
          first: first.lastSequence,
          again: again.results.map((r) => r.kind),
          keys: sql.exec<{ ce_id: string }>('SELECT ce_id FROM dedup').toArray().length,
          indexes: sql.exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'dedup' ORDER BY name").toArray(),
          buckets: sql.exec<{ n: number }>('SELECT count(*) AS n FROM dedup_bucket').one().n,
        };
      }),
    );
    expect(out).toEqual({
      first: 2,
      again: ['accepted', 'conflict'],
      keys: 0,
      // no unique index beside the table's own key
      indexes: [{ name: 'dedup_expiry' }],
      buckets: 0,
    });
  });

  it('encodes every column of the stored rows, the event spliced in as JSON, when a batch is read for Postgres', async () => {
    const { slice, ids } = await withOutbox((sql) => {
      const appended = appendToOutbox(sql, [item('a', { amount: 1 }), item('b', { amount: 2 }, { subject: null, partitionKey: null, correlationId: null })], {
        lastSequence: 0,
        now: NOW,
        expiresAt: NOW + 60_000,
      });
      return { slice: encodeOutbox(sql, { oldest: 1000, maxChars: 4 * 1024 * 1024 }), ids: appended.results.map((r) => r.id) };
    });
    expect(slice).toMatchObject({ n: 2, first: 1, last: 2 });
    expect(JSON.parse(slice.events)).toEqual([
      {
        sequence: 1,
        id: ids[0],
        source_id: 'src_1',
        ce_id: 'a',
        type: 'orders.created',
        subject: 'order-1',
        time: '2026-01-02T03:04:05Z',
        partition_key: 'customer-7',
        correlation_id: 'cor_1',
        causation_id: null,
        event: { specversion: '1.0', id: 'a', source: '/shop', type: 'orders.created', data: { amount: 1 } },
        sha256: 'sha-a',
        received_at: NOW,
        schema_version: null,
      },
      expect.objectContaining({
        sequence: 2,
        id: ids[1],
        ce_id: 'b',
        subject: null,
        partition_key: null,
        correlation_id: null,
        event: expect.objectContaining({ data: { amount: 2 } }),
      }),
    ]);
  });

  it('stops a batch at the character cap, the first row always included, and at the row cap', async () => {
    const big = 'x'.repeat(900_000);
    const [capped, first, rows, empty] = await withOutbox((sql) => {
      appendToOutbox(
        sql,
        Array.from({ length: 6 }, (_, i) => item(`big-${i}`, big)),
        { lastSequence: 0, now: NOW, expiresAt: NOW + 60_000 },
      );
      return [
        encodeOutbox(sql, { oldest: 1000, maxChars: 4 * 1024 * 1024 }),
        encodeOutbox(sql, { oldest: 1000, maxChars: 1 }),
        encodeOutbox(sql, { oldest: 2, maxChars: 4 * 1024 * 1024 }),
        encodeOutbox(sql, { from: 7, to: 9 }),
      ];
    });
    // five events of ~900 KB start under 4 MiB; the sixth would start past it
    expect(capped).toMatchObject({ n: 5, first: 1, last: 5 });
    expect(capped.events.length).toBeLessThan(4 * 1024 * 1024 + 900_000 + 10_000);
    expect(first).toMatchObject({ n: 1, first: 1, last: 1 });
    expect(rows).toMatchObject({ n: 2, first: 1, last: 2 });
    expect(empty).toEqual({ n: 0, first: 7, last: 9, events: '[]' });
  });

  it('stores every event of a batch larger than one insert statement, in order, with its columns', async () => {
    const ids = Array.from({ length: 123 }, (_, i) => `e${i}`);
    const { out, rows, slice } = await withOutbox((sql) => {
      // a repeat of the first id goes between the inserts' chunks and is answered, not stored
      const items = [
        ...ids.slice(0, 60).map((id) => item(id, { n: id })),
        item('e0', { n: 'e0' }),
        ...ids.slice(60).map((id) => item(id, { n: id }, { schemaVersion: 3 })),
      ];
      const out = appendToOutbox(sql, items, { lastSequence: 10, now: NOW, expiresAt: NOW + 60_000 });
      const rows = sql
        .exec<{ sequence: number; ce_id: string; schema_version: number | null; received_at: number }>(
          'SELECT sequence, ce_id, schema_version, received_at FROM outbox ORDER BY sequence',
        )
        .toArray();
      return { out, rows, slice: encodeOutbox(sql, { oldest: 1000, maxChars: 4 * 1024 * 1024 }) };
    });
    expect(out.lastSequence).toBe(133);
    expect(out.results[60]).toEqual({ kind: 'accepted', id: out.results[0]!.id, sequence: 11, duplicate: true });
    expect(rows.map((r) => r.ce_id)).toEqual(ids);
    expect(rows.map((r) => r.sequence)).toEqual(ids.map((_, i) => 11 + i));
    expect(rows[59]).toMatchObject({ schema_version: null, received_at: NOW });
    expect(rows[60]).toMatchObject({ schema_version: 3, received_at: NOW });
    const events = JSON.parse(slice.events) as { ce_id: string; event: { data: unknown } }[];
    expect(events.map((e) => [e.ce_id, e.event.data])).toEqual(ids.map((id) => [id, { n: id }]));
  });

  it('encodes a range of sequences the same way a batch is encoded, for the slices of a refused batch', async () => {
    const [batch, slice, row] = await withOutbox((sql) => {
      appendToOutbox(
        sql,
        ['a', 'b', 'c', 'd'].map((id) => item(id)),
        { lastSequence: 0, now: NOW, expiresAt: NOW + 60_000 },
      );
      const reader = outboxReader(sql);
      return [encodeOutbox(sql, { oldest: 1000, maxChars: 4 * 1024 * 1024 }), reader.slice(2, 3), reader.row(3)];
    });
    expect(slice).toMatchObject({ n: 2, first: 2, last: 3 });
    expect(JSON.parse(slice.events)).toEqual((JSON.parse(batch.events) as unknown[]).slice(1, 3));
    expect(row).toMatchObject({ sequence: 3, ce_id: 'c', received_at: NOW });
  });
});
