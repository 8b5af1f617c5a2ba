/**
 * How a TenantLog routes work around a live change of its tenant's shard count (docs/design/sharding.md
 * §4): which slots it may not write for now, the move judgement of an appended item, where an ordered
 * line's slot went, and the plan of the slots an old shard hands over. Plain functions over the log's
 * slot moves (slot-move-store.ts) and its shard; the SQLite ones run inside the caller's transaction
 * where it has one. The order of the move's steps lives in slot-move.ts.
 */
import type { AppendItem, AppendResult } from '../ingest/log-types';
import type { LineAway, MovedItems } from '../tenancy/line-follow';
import { ownerOf, slotOf } from '../tenancy/shard-routing';
import { type MovePlan, slotHere, type SlotMoves } from './slot-move-store';

/** The shard-count change a request was routed under (sharding.md §4). */
export type Routing = { epoch?: number; movingFrom?: number | null; shards?: number };

/**
 * A slot this log may not write for now: it is fenced or released here, or it moves here and is
 * not adopted yet (judged against the change the caller routed under).
 */
export function slotBusy(moves: SlotMoves, shard: number, slot: number, route: Routing): boolean {
  return slotHere(moves, slot) !== null || incoming(moves, shard, slot, route);
}

function incoming(moves: SlotMoves, shard: number, slot: number, route: Routing): boolean {
  if (route.movingFrom == null) return false;
  return ownerOf(slot, route.movingFrom) !== shard && ownerOf(slot, route.shards ?? 1) === shard && (moves.adopted.get(slot) ?? -1) < (route.epoch ?? 0);
}

/** The move judgement of one appended item, inside the write transaction (null: it may be written). */
export function judge(moves: SlotMoves, shard: number, a: Routing & { claims?: boolean }, item: AppendItem): AppendResult | null {
  if (item.slot === undefined) return null;
  const here = slotHere(moves, item.slot);
  if (here) return here.kind === 'moved' ? { kind: 'moved', to: here.to } : { kind: 'moving' };
  if (incoming(moves, shard, item.slot, a)) return { kind: 'moving' };
  // a claim the append writes itself waits for its id slot the same way
  if (a.claims && item.claimedAt === undefined && item.idSlot !== undefined && slotBusy(moves, shard, item.idSlot, a)) return { kind: 'moving' };
  return null;
}

/** Where a line's slot went, for the line calls (`expectEpoch`: the caller followed a release of that epoch here). */
export function lineAway(moves: SlotMoves, partitionKey: string, expectEpoch?: number): LineAway | null {
  if (partitionKey === '') return null;
  const slot = slotOf(partitionKey);
  if (expectEpoch !== undefined && (moves.adopted.get(slot) ?? -1) < expectEpoch) return { moving: true };
  const here = slotHere(moves, slot);
  return here?.kind === 'moved' ? { moved: here.to, epoch: here.epoch } : null;
}

export function hasLine(sql: SqlStorage, subscriptionId: string, partitionKey: string): boolean {
  return (
    sql
      .exec(
        'SELECT 1 FROM ordered_line WHERE subscription_id = ? AND partition_key = ? UNION ALL SELECT 1 FROM ordered_inflight WHERE subscription_id = ? AND partition_key = ? LIMIT 1',
        subscriptionId,
        partitionKey,
        subscriptionId,
        partitionKey,
      )
      .toArray().length > 0
  );
}

/** Splits line items into those this log holds and those whose line moved away (grouped by new owner); null: wait. */
export function splitMoved<T>(
  sql: SqlStorage,
  moves: SlotMoves,
  items: readonly T[],
  lineOf: (item: T) => { subscriptionId: string; partitionKey: string },
  expectEpoch?: number,
) {
  const local: T[] = [];
  const moved = new Map<number, MovedItems<T>>();
  for (const item of items) {
    const { subscriptionId, partitionKey } = lineOf(item);
    const away = lineAway(moves, partitionKey, expectEpoch);
    if (away && 'moving' in away) return null;
    if (!away || hasLine(sql, subscriptionId, partitionKey)) {
      local.push(item);
      continue;
    }
    const group = moved.get(away.moved) ?? { to: away.moved, epoch: away.epoch, items: [] };
    group.items.push(item);
    moved.set(away.moved, group);
  }
  return { local, moved: [...moved.values()] };
}

/** The plan of shard `shard` (an old shard) for the change `from` → `to` shards: each slot it hands over and its new owner. */
export function movePlan(shard: number, p: { epoch: number; from: number; to: number }): MovePlan {
  const slots = new Map<number, number>();
  for (let slot = 0; slot < 1024; slot++) {
    const to = ownerOf(slot, p.to);
    if (ownerOf(slot, p.from) === shard && to !== shard) slots.set(slot, to);
  }
  // a shard with nothing to hand over only reports that it is done
  return {
    epoch: p.epoch,
    from: p.from,
    to: p.to,
    state: slots.size > 0 ? 'planned' : 'adopted',
    fencedAt: null,
    fenceSequence: null,
    slots,
  };
}
