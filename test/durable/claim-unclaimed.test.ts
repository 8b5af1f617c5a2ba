import { runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { claimUnclaimedIds } from '../../src/durable/slot-move-store';
import { idKey, slotOf } from '../../src/tenancy/shard-routing';
import { testEnv } from '../fixtures/api';

const NOW = Date.parse('2026-01-02T03:04:05.000Z');

/** A fresh TenantLog's own SQLite (its constructor creates the tables); nothing reaches Postgres. */
async function withLog<T>(fn: (sql: SqlStorage) => T): Promise<T> {
  const stub = testEnv.TENANT_LOG.getByName(`claim-unclaimed-${crypto.randomUUID()}`);
  return runInDurableObject(stub, (_log, state) => state.storage.transactionSync(() => fn(state.storage.sql)));
}

describe('claims for the events of a 1-shard log before its first shard change', () => {
  it('writes one claim per live dedup row with a known slot and none yet, page after page, and keeps claims already there', async () => {
    const out = await withLog((sql) => {
      // 2,503 dedup rows over two sources: more than two pages
      for (let i = 0; i < 2503; i++)
        sql.exec(
          'INSERT INTO dedup (source_id, ce_id, sha256, id, sequence, expires_at, slot) VALUES (?, ?, ?, ?, ?, ?, ?)',
          i % 2 ? 'src_b' : 'src_a',
          `e-${i}`,
          'sha',
          `evt_${i}`,
          i + 1,
          NOW + 60_000,
          i % 1024,
        );
      // an expired row, a row whose event was nowhere (-1), and an id already claimed for another slot
      sql.exec("INSERT INTO dedup (source_id, ce_id, sha256, id, sequence, expires_at, slot) VALUES ('src_a', 'old', 'sha', 'evt_old', 9000, ?, 5)", NOW - 1);
      sql.exec(
        "INSERT INTO dedup (source_id, ce_id, sha256, id, sequence, expires_at, slot) VALUES ('src_a', 'lost', 'sha', 'evt_lost', 9001, ?, -1)",
        NOW + 60_000,
      );
      sql.exec(
        "INSERT INTO id_claim (source_id, ce_id, slot, id_slot, claimed_at, expires_at) VALUES ('src_a', 'e-0', 777, ?, ?, ?)",
        slotOf(idKey('src_a', 'e-0')),
        NOW - 5,
        NOW + 60_000,
      );
      // a page at most: what the move writes per transaction before its fence
      const first = claimUnclaimedIds(sql, NOW, { limit: 1500 });
      const rest = claimUnclaimedIds(sql, NOW, { from: first.next! });
      const again = claimUnclaimedIds(sql, NOW);
      const claims = sql
        .exec<{ source_id: string; ce_id: string; slot: number; id_slot: number; claimed_at: number; expires_at: number }>('SELECT * FROM id_claim')
        .toArray();
      return { first, rest, again, claims };
    });
    expect(out.first.written).toBe(1500);
    // it goes on after the last key it looked at, and says when it has seen every row
    expect(out.rest).toEqual({ written: 1002, next: null });
    expect(out.again).toEqual({ written: 0, next: null });
    expect(out.claims).toHaveLength(2503);
    const byId = new Map(out.claims.map((c) => [`${c.source_id}/${c.ce_id}`, c]));
    // the existing claim is left as it was
    expect(byId.get('src_a/e-0')).toMatchObject({ slot: 777, claimed_at: NOW - 5 });
    expect(byId.get('src_b/e-1')).toEqual({
      source_id: 'src_b',
      ce_id: 'e-1',
      slot: 1,
      id_slot: slotOf(idKey('src_b', 'e-1')),
      claimed_at: NOW,
      expires_at: NOW + 60_000,
    });
    expect(byId.get('src_a/e-2502')).toMatchObject({ slot: 2502 % 1024, id_slot: slotOf(idKey('src_a', 'e-2502')) });
    expect(byId.has('src_a/old')).toBe(false);
    expect(byId.has('src_a/lost')).toBe(false);
  });

  it('claims only the events from a sequence on when asked (the fence: the events still in the outbox)', async () => {
    const out = await withLog((sql) => {
      for (let i = 1; i <= 10; i++)
        sql.exec(
          "INSERT INTO dedup (source_id, ce_id, sha256, id, sequence, expires_at, slot) VALUES ('src_a', ?, 'sha', ?, ?, ?, 3)",
          `e-${i}`,
          `evt_${i}`,
          i,
          NOW + 60_000,
        );
      const claimed = claimUnclaimedIds(sql, NOW, { minSequence: 8 });
      return {
        claimed,
        ids: sql
          .exec<{ ce_id: string }>('SELECT ce_id FROM id_claim ORDER BY ce_id')
          .toArray()
          .map((r) => r.ce_id),
      };
    });
    expect(out.claimed).toEqual({ written: 3, next: null });
    expect(out.ids).toEqual(['e-10', 'e-8', 'e-9']);
  });
});
