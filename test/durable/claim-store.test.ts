import { runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { claimIds, claimLocally } from '../../src/durable/claim-store';
import { CLAIM_ORPHAN_MS } from '../../src/ingest/shard-append';
import type { ClaimRequest, ClaimResult } from '../../src/ingest/log-types';
import { testEnv } from '../fixtures/api';

const claim = (ceId: string, slot: number, replaces?: ClaimRequest['replaces']): ClaimRequest => ({
  sourceId: 'src_1',
  ceId,
  slot,
  idSlot: 7,
  ...(replaces ? { replaces } : {}),
});

/** Runs `work` on the SQLite of a fresh TenantLog (its schema has the claims table), in one transaction. */
function onLog<T>(work: (sql: SqlStorage) => T): Promise<T> {
  const stub = testEnv.TENANT_LOG.getByName(`claims-${crypto.randomUUID()}`);
  return runInDurableObject(stub, (_log, state) => state.storage.transactionSync(() => work(state.storage.sql)));
}

describe('id claims at an id’s home shard', () => {
  it('grants a free id, the same slot again, an expired claim and an old orphan taken over; answers another slot with it', async () => {
    const t0 = 1_700_000_000_000;
    const later = t0 + CLAIM_ORPHAN_MS;
    const answers = await onLog((sql) => {
      const day = 86_400_000;
      const first = claimIds(sql, [claim('a', 1), claim('b', 1), claim('gone', 1)], t0, t0 + day);
      // `gone` expires; `a` is held for slot 1, `b` will be an orphan (its request died)
      sql.exec("UPDATE id_claim SET expires_at = ? WHERE ce_id = 'gone'", t0 + 1);
      const second = claimIds(
        sql,
        [
          claim('a', 1),
          claim('a', 2),
          claim('gone', 3),
          // too young to take over
          claim('b', 2, { slot: 1, claimedAt: t0 }),
        ],
        t0 + 10,
        t0 + day,
      );
      // `a` was refreshed at t0 + 10 above, so only `b` is old enough here; a takeover of a claim that is not the one named fails
      const third = claimIds(sql, [claim('b', 2, { slot: 1, claimedAt: t0 }), claim('a', 3, { slot: 1, claimedAt: t0 })], later, later + day);
      const rows = sql.exec<{ ce_id: string; slot: number }>('SELECT ce_id, slot FROM id_claim ORDER BY ce_id').toArray();
      return { first, second, third, rows };
    });
    expect(answers.first).toEqual([
      { kind: 'ok', claimedAt: t0 },
      { kind: 'ok', claimedAt: t0 },
      { kind: 'ok', claimedAt: t0 },
    ]);
    expect(answers.second).toEqual<ClaimResult[]>([
      { kind: 'ok', claimedAt: t0 + 10 },
      { kind: 'other', slot: 1, claimedAt: t0 + 10 },
      { kind: 'ok', claimedAt: t0 + 10 },
      { kind: 'other', slot: 1, claimedAt: t0 },
    ]);
    expect(answers.third).toEqual<ClaimResult[]>([
      { kind: 'ok', claimedAt: later },
      { kind: 'other', slot: 1, claimedAt: t0 + 10 },
    ]);
    expect(answers.rows).toEqual([
      { ce_id: 'a', slot: 1 },
      { ce_id: 'b', slot: 2 },
      { ce_id: 'gone', slot: 3 },
    ]);
  });

  it('judges an id asked twice in one call against its first ask, as the append’s own check does', async () => {
    const t0 = 1_700_000_000_000;
    const { together, local } = await onLog((sql) => {
      const together = claimIds(sql, [claim('x', 4), claim('x', 4), claim('x', 5)], t0, t0 + 60_000);
      const local = [claimLocally(sql, claim('x', 4), t0, t0 + 60_000), claimLocally(sql, claim('x', 5), t0, t0 + 60_000)];
      return { together, local };
    });
    expect(together).toEqual<ClaimResult[]>([
      { kind: 'ok', claimedAt: t0 },
      { kind: 'ok', claimedAt: t0 },
      { kind: 'other', slot: 4, claimedAt: t0 },
    ]);
    expect(local).toEqual(['held', 'contended']);
  });
});
