/**
 * The TenantLog's side of a live change of its tenant's shard count (docs/design/sharding.md §4): the
 * plan of the slots this log hands over, the slots it adopted, and the release of the handoff (its pages:
 * slot-handoff-store.ts). All functions
 * run inside the caller's synchronous transaction; the order of the steps lives in slot-move.ts.
 *
 * Rules a reader would not guess:
 * - A slot's newest record wins: released at epoch e (the slot answers `moved`) against adopted at
 *   epoch e' (it is this log's again), so a slot that leaves and later comes back is judged right.
 * - Every slot of one plan shares its state (`planned` → `fenced` → `released` → `adopted` →
 *   `finished`): a log fences all the slots it hands over at once.
 * - Rows carry their slot where they cannot tell it: `dedup.slot` and `subject_head.slot` are stamped
 *   by multi-shard appends; older rows (NULL) are filled from the outbox or from Postgres before the
 *   fence (-1: the event is nowhere, the row stays). Ordered lines are keyed by their route key, so
 *   their slot is computed; `''` lines never move.
 * - Moved ordered lines are inserted with negative ranks in their old order: they release before
 *   anything the new owner lines up behind them, whatever their sequences (which name another shard).
 */
import { idKey, routeKey, slotOf } from '../tenancy/shard-routing';
import { handoffWriter, SLOT_HANDOFF_SCHEMA, upgradeHandoffTable } from './slot-handoff-store';
import { LINE_ORDER } from './dispatch-store';
import { hasPruned } from './subject-head-store';

export const SLOT_MOVE_SCHEMA = `
CREATE TABLE IF NOT EXISTS move_plan (
  epoch INTEGER PRIMARY KEY, from_shards INTEGER NOT NULL, to_shards INTEGER NOT NULL, state TEXT NOT NULL,
  fenced_at INTEGER, fence_sequence INTEGER);
CREATE TABLE IF NOT EXISTS slot_move (epoch INTEGER NOT NULL, slot INTEGER NOT NULL, to_shard INTEGER NOT NULL, PRIMARY KEY (epoch, slot)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS slot_adopted (epoch INTEGER NOT NULL, slot INTEGER NOT NULL, from_shard INTEGER NOT NULL, PRIMARY KEY (epoch, slot)) WITHOUT ROWID;
${SLOT_HANDOFF_SCHEMA}`;

/** Adds the slot columns to tables made before live changes (run after their schemas). */
export function upgradeSlotColumns(sql: SqlStorage): void {
  const has = (table: string, column: string) =>
    sql.exec<{ n: number }>(`SELECT count(*) AS n FROM pragma_table_info('${table}') WHERE name = ?`, column).one().n > 0;
  if (!has('dedup', 'slot')) sql.exec('ALTER TABLE dedup ADD COLUMN slot INTEGER');
  if (!has('subject_head', 'slot')) sql.exec('ALTER TABLE subject_head ADD COLUMN slot INTEGER');
  upgradeHandoffTable(sql);
}

export type PlanState = 'planned' | 'fenced' | 'released' | 'adopted' | 'finished';

export interface MovePlan {
  epoch: number;
  from: number;
  to: number;
  state: PlanState;
  fencedAt: number | null;
  /** The last sequence when the slots were fenced: once the outbox holds nothing at or below it, they are drained. */
  fenceSequence: number | null;
  /** Slot → the shard it goes to. */
  slots: Map<number, number>;
}

export interface SlotMoves {
  /** The newest plan not finished (at most one: a change starts only when the previous one is done). */
  plan: MovePlan | null;
  released: Map<number, { to: number; epoch: number }>;
  adopted: Map<number, number>;
}

export function loadSlotMoves(sql: SqlStorage): SlotMoves {
  const moves: SlotMoves = { plan: null, released: new Map(), adopted: new Map() };
  const plans = sql
    .exec<{ epoch: number; from_shards: number; to_shards: number; state: PlanState; fenced_at: number | null; fence_sequence: number | null }>(
      'SELECT * FROM move_plan ORDER BY epoch',
    )
    .toArray();
  for (const p of plans) {
    const slots = new Map(
      sql
        .exec<{ slot: number; to_shard: number }>('SELECT slot, to_shard FROM slot_move WHERE epoch = ?', p.epoch)
        .toArray()
        .map((r) => [r.slot, r.to_shard]),
    );
    if (p.state === 'planned' || p.state === 'fenced') {
      moves.plan = { epoch: p.epoch, from: p.from_shards, to: p.to_shards, state: p.state, fencedAt: p.fenced_at, fenceSequence: p.fence_sequence, slots };
      continue;
    }
    for (const [slot, to] of slots) moves.released.set(slot, { to, epoch: p.epoch });
    if (p.state !== 'finished')
      moves.plan = { epoch: p.epoch, from: p.from_shards, to: p.to_shards, state: p.state, fencedAt: null, fenceSequence: null, slots };
  }
  for (const r of sql.exec<{ slot: number; epoch: number }>('SELECT slot, max(epoch) AS epoch FROM slot_adopted GROUP BY slot'))
    moves.adopted.set(r.slot, r.epoch);
  return moves;
}

/** Where a slot stands on this log: `moved` (released, newer than any adoption), `moving` (fenced), or null (here). */
export function slotHere(moves: SlotMoves, slot: number): { kind: 'moved'; to: number; epoch: number } | { kind: 'moving' } | null {
  const released = moves.released.get(slot);
  if (released && released.epoch > (moves.adopted.get(slot) ?? -1)) return { kind: 'moved', ...released };
  if (moves.plan?.state === 'fenced' && moves.plan.slots.has(slot)) return { kind: 'moving' };
  return null;
}

export function writePlan(sql: SqlStorage, plan: MovePlan): void {
  sql.exec(
    'INSERT OR REPLACE INTO move_plan (epoch, from_shards, to_shards, state, fenced_at, fence_sequence) VALUES (?, ?, ?, ?, ?, ?)',
    plan.epoch,
    plan.from,
    plan.to,
    plan.state,
    plan.fencedAt,
    plan.fenceSequence,
  );
}

export function insertPlanSlots(sql: SqlStorage, plan: MovePlan): void {
  for (const [slot, to] of plan.slots) sql.exec('INSERT OR IGNORE INTO slot_move (epoch, slot, to_shard) VALUES (?, ?, ?)', plan.epoch, slot, to);
}

/** Stamps the slots of freshly appended events on their dedup rows and subject heads (multi-shard appends carry them). */
export function stampSlots(sql: SqlStorage, items: readonly { sourceId: string; ceId: string; subject: string | null; slot?: number }[]): void {
  const dedup: { s: string; c: string; slot: number }[] = [];
  const heads = new Map<string, number>();
  for (const item of items) {
    if (item.slot === undefined) continue;
    dedup.push({ s: item.sourceId, c: item.ceId, slot: item.slot });
    if (item.subject !== null) heads.set(item.subject, item.slot);
  }
  if (dedup.length === 0) return;
  sql.exec(
    `UPDATE dedup SET slot = j.value ->> '$.slot' FROM json_each(?) AS j WHERE dedup.source_id = j.value ->> '$.s' AND dedup.ce_id = j.value ->> '$.c'`,
    JSON.stringify(dedup),
  );
  if (heads.size > 0)
    sql.exec(
      `UPDATE subject_head SET slot = j.value ->> '$[1]' FROM json_each(?) AS j WHERE subject_head.subject = j.value ->> '$[0]'`,
      JSON.stringify([...heads]),
    );
}

export type EventKeys = {
  partition_key: string | null;
  subject: string | null;
  source_id: string;
  ce_id: string;
};

/** Sequences of dedup rows and subject heads whose slot is not known yet. */
export function unslottedSequences(sql: SqlStorage): number[] {
  return sql
    .exec<{ sequence: number }>('SELECT sequence FROM dedup WHERE slot IS NULL UNION SELECT sequence FROM subject_head WHERE slot IS NULL')
    .toArray()
    .map((r) => r.sequence);
}

/**
 * Fills unknown slots from the events' keys: those still in the outbox, then `stored` (read from
 * Postgres). With `final`, a row whose event is in neither gets -1 and stays on this log.
 */
export function fillSlots(sql: SqlStorage, stored: ReadonlyMap<number, EventKeys>, final: boolean): void {
  const keysOf = (sequence: number): EventKeys | undefined =>
    stored.get(sequence) ?? sql.exec<EventKeys>('SELECT partition_key, subject, source_id, ce_id FROM outbox WHERE sequence = ?', sequence).toArray()[0];
  const slotOfKeys = (k: EventKeys) => slotOf(routeKey({ partitionKey: k.partition_key, subject: k.subject, sourceId: k.source_id, ceId: k.ce_id }));
  for (const row of sql
    .exec<{ source_id: string; ce_id: string; sequence: number }>('SELECT source_id, ce_id, sequence FROM dedup WHERE slot IS NULL')
    .toArray()) {
    const keys = keysOf(row.sequence);
    if (keys || final) sql.exec('UPDATE dedup SET slot = ? WHERE source_id = ? AND ce_id = ?', keys ? slotOfKeys(keys) : -1, row.source_id, row.ce_id);
  }
  for (const row of sql.exec<{ subject: string; sequence: number }>('SELECT subject, sequence FROM subject_head WHERE slot IS NULL').toArray()) {
    const keys = keysOf(row.sequence);
    if (keys || final) sql.exec('UPDATE subject_head SET slot = ? WHERE subject = ?', keys ? slotOfKeys(keys) : -1, row.subject);
  }
}

/** Where {@link claimUnclaimedIds} goes on from: the last dedup key (source, id) it looked at. */
export type ClaimCursor = readonly [sourceId: string, ceId: string];

/**
 * Writes the id claims (claim-store.ts) that this log's events never needed while their tenant had one
 * shard: one per dedup row whose slot is known and whose id has none, for the rest of that row's window.
 * They move with their id slot like every other claim, so an id reused with another key after the move
 * is still found (`422 idempotency_conflict`) instead of being judged only by the new key's shard.
 * Rows of a multi-shard tenant already have theirs. Reads in key order after `from`, at most `limit`
 * claims, only rows of events numbered `minSequence` or later; `next` is where to go on from, null once
 * every row was seen.
 */
export function claimUnclaimedIds(
  sql: SqlStorage,
  now: number,
  { from = ['', ''], limit = Number.POSITIVE_INFINITY, minSequence = 0 }: { from?: ClaimCursor; limit?: number; minSequence?: number } = {},
): { written: number; next: ClaimCursor | null } {
  let written = 0;
  // a page at a time, so a window of a million events never sits in the isolate at once
  for (let after = from; ; ) {
    const rows = sql
      .exec<{ source_id: string; ce_id: string; slot: number; expires_at: number }>(
        `SELECT source_id, ce_id, slot, expires_at FROM dedup d WHERE (source_id, ce_id) > (?, ?) AND slot >= 0 AND expires_at > ? AND sequence >= ?
           AND NOT EXISTS (SELECT 1 FROM id_claim c WHERE c.source_id = d.source_id AND c.ce_id = d.ce_id)
         ORDER BY source_id, ce_id LIMIT ?`,
        after[0],
        after[1],
        now,
        minSequence,
        Math.min(CLAIM_ROWS, limit - written),
      )
      .toArray();
    if (rows.length === 0) return { written, next: null };
    sql.exec(
      `INSERT OR IGNORE INTO id_claim (source_id, ce_id, slot, id_slot, claimed_at, expires_at)
         SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, ?, value ->> 4 FROM json_each(?)`,
      now,
      JSON.stringify(rows.map((r) => [r.source_id, r.ce_id, r.slot, slotOf(idKey(r.source_id, r.ce_id)), r.expires_at])),
    );
    written += rows.length;
    const last = rows[rows.length - 1]!;
    after = [last.source_id, last.ce_id];
    if (written >= limit) return { written, next: after };
  }
}
/** Claims read and written per statement by {@link claimUnclaimedIds}. */
const CLAIM_ROWS = 1000;

/**
 * Takes the plan's slots out of this log: their dedup rows, id claims (by `id_slot`), subject heads
 * and keyed ordered lines (with their in-flight delivery) become the pages of one handoff per new
 * owner, kept in `slot_handoff` until each is acknowledged, and the rows are deleted. Only once no
 * outbox row of the slots is left.
 */
export function releaseSlots(sql: SqlStorage, plan: MovePlan, floor: number): void {
  const slots = JSON.stringify([...plan.slots.keys()]);
  const slotsByOwner = new Map<number, number[]>();
  for (const [slot, to] of plan.slots) slotsByOwner.set(to, [...(slotsByOwner.get(to) ?? []), slot]);
  const pages = handoffWriter(sql, plan.epoch, slotsByOwner, floor, hasPruned(sql));
  const ownerOfSlot = (slot: SqlStorageValue) => plan.slots.get(slot as number)!;
  const IN = 'IN (SELECT value FROM json_each(?))';
  for (const row of sql.exec(`SELECT * FROM dedup WHERE slot ${IN}`, slots)) pages.row(ownerOfSlot(row.slot!), 'dedup', row);
  for (const row of sql.exec(`SELECT * FROM id_claim WHERE id_slot ${IN}`, slots)) pages.row(ownerOfSlot(row.id_slot!), 'claims', row);
  for (const row of sql.exec(`SELECT * FROM subject_head WHERE slot ${IN}`, slots)) pages.row(ownerOfSlot(row.slot!), 'heads', row);
  const keyed = sql
    .exec<{ subscription_id: string; partition_key: string }>(
      `SELECT DISTINCT subscription_id, partition_key FROM ordered_line WHERE partition_key != ''
       UNION SELECT subscription_id, partition_key FROM ordered_inflight WHERE partition_key != ''`,
    )
    .toArray();
  for (const line of keyed) {
    const slot = slotOf(line.partition_key);
    if (!plan.slots.has(slot)) continue;
    const rows = sql
      .exec<{ sequence: number; delivery_id: string; priority: string | null; received_at: number | null }>(
        `SELECT sequence, delivery_id, priority, received_at FROM ordered_line WHERE subscription_id = ? AND partition_key = ? ORDER BY ${LINE_ORDER}`,
        line.subscription_id,
        line.partition_key,
      )
      .toArray();
    const inflight =
      sql
        .exec<{ delivery_id: string }>(
          'SELECT delivery_id FROM ordered_inflight WHERE subscription_id = ? AND partition_key = ?',
          line.subscription_id,
          line.partition_key,
        )
        .toArray()[0]?.delivery_id ?? null;
    pages.line(ownerOfSlot(slot), line, rows, inflight);
    sql.exec('DELETE FROM ordered_line WHERE subscription_id = ? AND partition_key = ?', line.subscription_id, line.partition_key);
    sql.exec('DELETE FROM ordered_inflight WHERE subscription_id = ? AND partition_key = ?', line.subscription_id, line.partition_key);
  }
  pages.finish();
  sql.exec(`DELETE FROM dedup WHERE slot ${IN}`, slots);
  sql.exec(`DELETE FROM id_claim WHERE id_slot ${IN}`, slots);
  sql.exec(`DELETE FROM subject_head WHERE slot ${IN}`, slots);
}

export function markAdopted(moves: SlotMoves, epoch: number, slots: readonly number[]): void {
  for (const slot of slots) moves.adopted.set(slot, Math.max(epoch, moves.adopted.get(slot) ?? -1));
}
