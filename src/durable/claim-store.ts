/**
 * Id claims (docs/design/sharding.md §2): on a multi-shard tenant, the shard that is an event id's
 * home (`ownerOf(slotOf(source\nid))`) records which slot (which routing key) the id was first sent
 * with, so that a reuse of the id with another key, which lands on another shard, is still found.
 * Rows live as long as the dedup window. All functions run inside the caller's synchronous transaction.
 *
 * Rules a reader would not guess:
 * - A claim for the same slot is always `ok` (and refreshed): the event's own shard's `dedup` decides
 *   duplicate or conflict exactly, as on a 1-shard tenant.
 * - A claim for another slot is answered with that slot; the caller asks that slot's owner whether it
 *   stored the event (`dedupOf`). A claim left by a request that died before its append is taken over
 *   only once it is older than CLAIM_ORPHAN_MS, and an append refuses a claim older than CLAIM_TTL_MS,
 *   so an orphaned claim can never be completed after another body took it over.
 */
import type { ClaimRequest, ClaimResult } from '../ingest/log-types';
import { CLAIM_ORPHAN_MS } from '../ingest/shard-append';
import { idKey } from '../tenancy/shard-routing';

export const CLAIM_SCHEMA = `
CREATE TABLE IF NOT EXISTS id_claim (
  source_id TEXT NOT NULL, ce_id TEXT NOT NULL, slot INTEGER NOT NULL, id_slot INTEGER NOT NULL,
  claimed_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, PRIMARY KEY (source_id, ce_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS id_claim_expiry ON id_claim (expires_at);`;

type ClaimRow = { slot: number; claimed_at: number };

function liveClaim(sql: SqlStorage, sourceId: string, ceId: string, now: number): ClaimRow | undefined {
  return sql.exec<ClaimRow>('SELECT slot, claimed_at FROM id_claim WHERE source_id = ? AND ce_id = ? AND expires_at > ?', sourceId, ceId, now).toArray()[0];
}

function writeClaim(sql: SqlStorage, c: ClaimRequest, now: number, expiresAt: number): void {
  sql.exec(
    'INSERT OR REPLACE INTO id_claim (source_id, ce_id, slot, id_slot, claimed_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)',
    c.sourceId,
    c.ceId,
    c.slot,
    c.idSlot,
    now,
    expiresAt,
  );
}

/**
 * Claims ids for their events' slots; one answer per request, in order. Set-based: one lookup of
 * every live claim and one write of every claim granted, not two statements per id; an id asked twice
 * in one call is judged against the first ask, as one by one.
 */
export function claimIds(sql: SqlStorage, claims: readonly ClaimRequest[], now: number, expiresAt: number): ClaimResult[] {
  if (claims.length === 0) return [];
  const live = new Map<string, ClaimRow>();
  const keys = [...new Set(claims.map((c) => JSON.stringify([c.sourceId, c.ceId])))];
  for (const row of sql.exec<ClaimRow & { source_id: string; ce_id: string }>(
    `SELECT c.source_id, c.ce_id, c.slot, c.claimed_at FROM json_each(?) AS k
     CROSS JOIN id_claim AS c ON c.source_id = k.value ->> 0 AND c.ce_id = k.value ->> 1 WHERE c.expires_at > ?`,
    `[${keys.join(',')}]`,
    now,
  )) {
    live.set(idKey(row.source_id, row.ce_id), { slot: row.slot, claimed_at: row.claimed_at });
  }
  const granted: [string, string, number, number][] = [];
  const results = claims.map((c): ClaimResult => {
    const key = idKey(c.sourceId, c.ceId);
    const row = live.get(key);
    const takeover = row && c.replaces && row.slot === c.replaces.slot && row.claimed_at === c.replaces.claimedAt && now - row.claimed_at >= CLAIM_ORPHAN_MS;
    if (row && row.slot !== c.slot && !takeover) return { kind: 'other', slot: row.slot, claimedAt: row.claimed_at };
    live.set(key, { slot: c.slot, claimed_at: now });
    granted.push([c.sourceId, c.ceId, c.slot, c.idSlot]);
    return { kind: 'ok', claimedAt: now };
  });
  if (granted.length > 0)
    sql.exec(
      `INSERT OR REPLACE INTO id_claim (source_id, ce_id, slot, id_slot, claimed_at, expires_at)
       SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, ?, ? FROM json_each(?)`,
      now,
      expiresAt,
      JSON.stringify(granted),
    );
  return results;
}

/**
 * The claim check of an append at the id's home shard: `contended` when the id is claimed for
 * another slot (settled by the caller through `claimIds`), else the claim is written; `fresh` when
 * there was none, so that it can be dropped again if the event is not written.
 */
export function claimLocally(sql: SqlStorage, c: ClaimRequest, now: number, expiresAt: number): 'contended' | 'fresh' | 'held' {
  const row = liveClaim(sql, c.sourceId, c.ceId, now);
  if (row && row.slot !== c.slot) return 'contended';
  writeClaim(sql, c, now, expiresAt);
  return row ? 'held' : 'fresh';
}

export function dropClaim(sql: SqlStorage, sourceId: string, ceId: string): void {
  sql.exec('DELETE FROM id_claim WHERE source_id = ? AND ce_id = ?', sourceId, ceId);
}

export function forgetExpiredClaims(sql: SqlStorage, now: number): void {
  sql.exec('DELETE FROM id_claim WHERE expires_at <= ?', now);
}
