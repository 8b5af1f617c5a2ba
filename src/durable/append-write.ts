/**
 * The TenantLog's group-commit write path: an append waiting for its group (`PendingAppend`), the
 * subject heads it reads from Postgres before it waits, and the body of the one synchronous
 * transaction that writes a group (`writeAppendGroup`): the slot-move judgement and id-claim check of
 * multi-shard appends, the outbox rows, the log's meta, and the results in input order. The caller
 * runs that body in its transaction and updates its in-memory state only once it committed
 * (tenant-log.ts); the stream publishes what it stored (`liveEvents`).
 */
import type { SharedConnection } from '../db/shared-connection';
import type { AppendItem, AppendResult } from '../ingest/log-types';
import { CLAIM_TTL_MS } from '../ingest/shard-append';
import { claimLocally, dropClaim } from './claim-store';
import { writeAppendMeta, writeMeta } from './meta-store';
import { appendToOutbox } from './outbox-store';
import { type SlotMoves, stampSlots } from './slot-move-store';
import type { LiveEvent } from './stream-hub';
import { subjectHeads } from './subject-head-store';

/** One append waiting for its group commit. */
export interface PendingAppend {
  tenantId: string;
  dedupWindowSeconds: number;
  items: AppendItem[];
  /** Heads read from Postgres for guarded subjects whose row was pruned (subject-head-store.ts). */
  fallbackHeads?: Map<string, number>;
  /** The tenant has more than one shard: every item's id claim is checked (claim-store.ts). */
  claims?: boolean;
  /** The shard count the append was routed under (absent for system events). */
  shards?: number;
  /** The shard-count change it was routed under, and the count that change moves from while it moves keys (sharding.md §4). */
  epoch?: number;
  movingFrom?: number | null;
}

/** What the transaction body reads of the log besides its SQLite tables. */
export interface AppendGroupState {
  /** The tenant the log recorded; null: the group records its own. */
  tenantId: string | null;
  /** The log's last sequence before the group. */
  lastSequence: number;
  /** The group's `received_at` (the log's clamped clock). */
  now: number;
  /** Idle subject heads were pruned once (subject-head-store.ts). */
  prunedHeads: boolean;
  moves: SlotMoves;
  /** The move judgement of one item (slot-routing.ts `judge`): null when it may be written. */
  judge(a: PendingAppend, item: AppendItem): AppendResult | null;
}

/**
 * After this log pruned idle subject heads, the heads of an append's guarded subjects that have no
 * row, read from Postgres (the last stored sequence of each, 0 when none is stored): pruning keeps a
 * head until all its events are there. Throws when Postgres cannot answer (the ingest answers 503).
 */
export async function prunedSubjectHeads(
  sql: SqlStorage,
  postgres: SharedConnection,
  prunedHeads: boolean,
  tenantId: string,
  items: readonly AppendItem[],
): Promise<Map<string, number> | undefined> {
  if (!prunedHeads) return undefined;
  const guarded = [...new Set(items.flatMap((i) => (i.expectedSequence != null && i.subject !== null ? [i.subject] : [])))];
  if (guarded.length === 0) return undefined;
  const known = subjectHeads(sql, guarded);
  const missing = guarded.filter((subject) => !known.has(subject));
  if (missing.length === 0) return undefined;
  const heads = new Map(missing.map((subject) => [subject, 0]));
  const rows = await postgres.use((db) =>
    db.query<{ subject: string; sequence: string }>(
      'SELECT subject, max(sequence) AS sequence FROM events WHERE tenant_id = $1 AND subject = ANY($2::text[]) GROUP BY subject',
      [tenantId, missing],
    ),
  );
  for (const row of rows.rows) heads.set(row.subject, Number(row.sequence));
  return heads;
}

/**
 * The body of a group's transaction, run inside the caller's: results per append, in input order, and
 * the log's new last sequence. Consecutive appends with the same dedup window share one set of statements.
 */
export function writeAppendGroup(sql: SqlStorage, group: readonly PendingAppend[], s: AppendGroupState): { results: AppendResult[][]; last: number } {
  const { now, lastSequence: before } = s;
  if (s.tenantId === null) writeMeta(sql, 'tenant_id', group[0]!.tenantId);
  // multi-shard tenants: items refused by a slot move or their id claim are answered here and not appended
  const moving = s.moves.plan !== null || s.moves.released.size > 0;
  const checked = group.map((a) => {
    const judge = a.epoch !== undefined && (moving || a.movingFrom != null) ? (item: AppendItem) => s.judge(a, item) : undefined;
    return a.claims || judge ? checkItems(sql, a, now, judge) : null;
  });
  const kept = group.map((a, i) => (checked[i] ? a.items.filter((_, j) => checked[i]!.refused[j] === null) : a.items));
  const out: AppendResult[][] = [];
  let last = before;
  for (let start = 0; start < group.length; ) {
    const window = group[start]!.dedupWindowSeconds;
    let end = start + 1;
    while (end < group.length && group[end]!.dedupWindowSeconds === window) end++;
    const run = group.slice(start, end);
    const appended = appendToOutbox(sql, run.length === 1 ? kept[start]! : kept.slice(start, end).flat(), {
      lastSequence: last,
      now,
      expiresAt: now + window * 1000,
      pruned: s.prunedHeads,
      fallbackHeads: fallbacksOf(run),
    });
    let at = 0;
    for (let i = start; i < end; i++) out.push(appended.results.slice(at, (at += kept[i]!.length)));
    last = appended.lastSequence;
    start = end;
  }
  if (last !== before) {
    writeAppendMeta(sql, last, now);
    // multi-shard appends carry slots: the rows that cannot tell theirs are stamped (slot-move-store.ts)
    if (group.some((a) => a.items[0]?.slot !== undefined))
      stampSlots(
        sql,
        kept.flatMap((items, i) => items.filter((_, j) => out[i]![j]!.kind === 'accepted' && !(out[i]![j] as { duplicate: boolean }).duplicate)),
      );
  }
  return { results: out.map((r, i) => (checked[i] ? settleClaims(sql, group[i]!.items, checked[i]!, r) : r)), last };
}

interface CheckedClaims {
  /** Per item: the refusal, or null when it goes on to the outbox. */
  refused: (AppendResult | null)[];
  /** Items whose claim this append wrote fresh: dropped again if the item is not written. */
  fresh: Set<number>;
}

/** The slot-move judgement and the id-claim check of a multi-shard append (sharding.md §2, §4), inside the write transaction. */
function checkItems(sql: SqlStorage, a: PendingAppend, now: number, judge?: (item: AppendItem) => AppendResult | null): CheckedClaims {
  const fresh = new Set<number>();
  const refused = a.items.map((item, j): AppendResult | null => {
    const refusal = judge?.(item);
    if (refusal) return refusal;
    if (!a.claims) return null;
    if (item.claimedAt !== undefined) return now - item.claimedAt > CLAIM_TTL_MS ? { kind: 'claim_expired' } : null;
    const claim = { sourceId: item.sourceId, ceId: item.ceId, slot: item.slot ?? 0, idSlot: item.idSlot ?? 0 };
    const local = claimLocally(sql, claim, now, now + a.dedupWindowSeconds * 1000);
    if (local === 'contended') return { kind: 'claim_contended' };
    if (local === 'fresh') fresh.add(j);
    return null;
  });
  return { refused, fresh };
}

/** Merges refusals and appended results back into input order; drops fresh claims of items not written. */
function settleClaims(sql: SqlStorage, items: readonly AppendItem[], checked: CheckedClaims, appended: AppendResult[]): AppendResult[] {
  let next = 0;
  return items.map((item, j) => {
    const refusal = checked.refused[j];
    if (refusal) return refusal;
    const r = appended[next++]!;
    if (checked.fresh.has(j) && r.kind !== 'accepted') dropClaim(sql, item.sourceId, item.ceId);
    return r;
  });
}

/** The events an append stored (not its duplicates or conflicts), as the stream publishes them. */
export function liveEvents(items: AppendItem[], results: AppendResult[], before: number, receivedAt: number): LiveEvent[] {
  const events: LiveEvent[] = [];
  results.forEach((r, i) => {
    const item = items[i]!;
    if (r.kind === 'accepted' && !r.duplicate && r.sequence > before) {
      events.push({ sequence: r.sequence, id: r.id, sourceId: item.sourceId, type: item.type, receivedAt, json: item.json, sha256: item.sha256 });
    }
  });
  return events;
}

/** The Postgres fallback heads of a run of appends, merged (each append read its own subjects). */
function fallbacksOf(run: readonly PendingAppend[]): Map<string, number> | undefined {
  const maps = run.flatMap((a) => (a.fallbackHeads ? [a.fallbackHeads] : []));
  if (maps.length <= 1) return maps[0];
  const merged = new Map<string, number>();
  for (const map of maps) for (const [subject, head] of map) merged.set(subject, Math.max(head, merged.get(subject) ?? 0));
  return merged;
}
