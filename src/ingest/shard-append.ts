/**
 * Ingest for multi-shard tenants (docs/design/sharding.md §1–2): each item goes to the shard that owns
 * its routing key's slot, the shards are asked in parallel, and the results come back in input order.
 * A 1-shard tenant makes exactly the one append it always made.
 *
 * Dedup stays exact across shards through id claims: an id's home shard (the owner of the slot of
 * `source\nid`) records the slot the id was first sent with. An item whose home is its own shard is
 * claimed inside its append; any other is claimed at its home first (one more small DO write). A
 * claim held for another slot is settled by asking that slot's owner whether it stored the event:
 * yes is 422 `idempotency_conflict` with the original id and sequence, as on one shard; no is a
 * per-item 503 until the claim is old enough to count as orphaned (CLAIM_ORPHAN_MS), then taken over.
 *
 * Rules a reader would not guess:
 * - A batch is no longer all-or-nothing on a log failure: items of a shard that failed answer 503
 *   `storage_unavailable` each, the others are stored (the batch contract allows per-item outcomes).
 * - A `stale` or `gone` answer from any shard is the answer of the whole append; the items other
 *   shards stored meanwhile are duplicates of themselves when the pipeline sends them again.
 */
import { idKey, ownerOf, routeKey, slotOf } from '../tenancy/shard-routing';
import type { AppendItem, AppendRequest, AppendResponse, AppendResult, ClaimRequest, ClaimResult } from './log-types';

/** An append must reach its shard within this long of its id claim (else `claim_expired`). */
export const CLAIM_TTL_MS = 20_000;
/** A claim for another slot whose event was never stored is taken over after this long; 40 s above CLAIM_TTL_MS for clock skew. */
export const CLAIM_ORPHAN_MS = 60_000;
/** An item whose slot is being moved is asked again every MOVE_RETRY_MS, up to MOVE_RETRIES times (about a second). */
const MOVE_RETRY_MS = 20;
const MOVE_RETRIES = 50;

/** The shards' RPCs, by shard number (routes/ingest.ts binds them to `shardLog`). */
export interface ShardLogs {
  append(shard: number, request: AppendRequest): Promise<AppendResponse>;
  claim(
    shard: number,
    request: { shard: number; dedupWindowSeconds: number; claims: ClaimRequest[]; epoch?: number; movingFrom?: number | null; shards?: number },
  ): Promise<ClaimResult[] | null | { kind: 'stale'; configVersion: number }>;
  dedupOf(shard: number, keys: { sourceId: string; ceId: string }[]): Promise<({ id: string; sequence: number } | null)[]>;
}

interface Routed {
  item: AppendItem;
  shard: number;
  home: number;
}

export async function appendSharded(request: AppendRequest, logs: ShardLogs, now: () => number = Date.now): Promise<AppendResponse> {
  const shards = request.shards ?? 1;
  const movingFrom = request.movingFrom ?? null;
  if (shards <= 1 && movingFrom === null) return logs.append(0, request);
  // while a change of the count moves keys, an item goes to its slot's old owner first (sharding.md §4); its id claim to the new home
  const routed: Routed[] = request.items.map((item) => {
    const slot = slotOf(routeKey(item));
    const idSlot = slotOf(idKey(item.sourceId, item.ceId));
    return { item: { ...item, slot, idSlot }, shard: ownerOf(slot, movingFrom ?? shards), home: ownerOf(idSlot, shards) };
  });
  const results: (AppendResult | undefined)[] = routed.map(() => undefined);
  let gone = false;
  let stale: { kind: 'stale'; configVersion: number } | null = null;
  const route = { epoch: request.epoch, movingFrom, shards };

  /** Claims the ids of `indices` at their homes; sets `claimedAt` on the items that may go on, answers the others. */
  const claimAtHomes = async (indices: number[]): Promise<void> => {
    const byHome = Map.groupBy(indices, (i) => routed[i]!.home);
    const others: { index: number; slot: number; claimedAt: number }[] = [];
    await Promise.all(
      [...byHome].map(async ([home, group]) => {
        let answers: ClaimResult[] | null;
        try {
          const answered = await logs.claim(home, {
            shard: home,
            dedupWindowSeconds: request.dedupWindowSeconds,
            claims: group.map((i) => claimOf(routed[i]!.item)),
            ...route,
          });
          if (answered && !Array.isArray(answered)) return void (stale = answered);
          answers = answered;
        } catch (error) {
          console.error(JSON.stringify({ msg: 'id claim failed', tenantId: request.tenantId, shard: home, error: String(error) }));
          for (const i of group) results[i] = { kind: 'storage_unavailable' };
          return;
        }
        if (!answers) return void (gone = true);
        group.forEach((i, k) => {
          const answer = answers[k]!;
          if (answer.kind === 'ok') routed[i]!.item.claimedAt = answer.claimedAt;
          else if (answer.kind === 'moving') results[i] = { kind: 'moving' };
          else others.push({ index: i, slot: answer.slot, claimedAt: answer.claimedAt });
        });
      }),
    );
    if (others.length === 0 || gone) return;
    // held for another key: did that key's shard store the event?
    const orphans: typeof others = [];
    await Promise.all(
      [...Map.groupBy(others, (o) => ownerOf(o.slot, shards))].map(async ([owner, group]) => {
        try {
          const stored = await logs.dedupOf(
            owner,
            group.map((o) => ({ sourceId: routed[o.index]!.item.sourceId, ceId: routed[o.index]!.item.ceId })),
          );
          group.forEach((o, k) => {
            const original = stored[k];
            if (original) results[o.index] = { kind: 'conflict', id: original.id, sequence: original.sequence };
            else if (now() - o.claimedAt < CLAIM_ORPHAN_MS) results[o.index] = { kind: 'idempotency_pending' };
            else orphans.push(o);
          });
        } catch (error) {
          console.error(JSON.stringify({ msg: 'id claim check failed', tenantId: request.tenantId, shard: owner, error: String(error) }));
          for (const o of group) results[o.index] = { kind: 'storage_unavailable' };
        }
      }),
    );
    // the request that claimed it died before its append: take the claim over, once
    await Promise.all(
      [...Map.groupBy(orphans, (o) => routed[o.index]!.home)].map(async ([home, group]) => {
        try {
          const answers = await logs.claim(home, {
            shard: home,
            dedupWindowSeconds: request.dedupWindowSeconds,
            claims: group.map((o) => ({ ...claimOf(routed[o.index]!.item), replaces: { slot: o.slot, claimedAt: o.claimedAt } })),
            ...route,
          });
          if (answers && !Array.isArray(answers)) return void (stale = answers);
          if (!answers) return void (gone = true);
          group.forEach((o, k) => {
            const answer = answers[k]!;
            if (answer.kind === 'ok') routed[o.index]!.item.claimedAt = answer.claimedAt;
            else results[o.index] = { kind: 'idempotency_pending' };
          });
        } catch {
          for (const o of group) results[o.index] = { kind: 'storage_unavailable' };
        }
      }),
    );
  };

  /** Appends the unanswered items of `indices` to their shards; null: the whole append is `stale`/`gone`. */
  const appendToShards = async (indices: number[]): Promise<Exclude<AppendResponse, { kind: 'appended' }> | null> => {
    let refusal: Exclude<AppendResponse, { kind: 'appended' }> | null = null;
    const open = indices.filter((i) => results[i] === undefined);
    await Promise.all(
      [...Map.groupBy(open, (i) => routed[i]!.shard)].map(async ([shard, group]) => {
        let response: AppendResponse;
        try {
          response = await logs.append(shard, { ...request, shard, items: group.map((i) => routed[i]!.item) });
        } catch (error) {
          console.error(JSON.stringify({ msg: 'tenant log append failed', tenantId: request.tenantId, shard, error: String(error) }));
          for (const i of group) results[i] = { kind: 'storage_unavailable' };
          return;
        }
        if (response.kind === 'appended') {
          group.forEach((i, k) => {
            results[i] = response.results[k]!;
          });
        } else if (response.kind === 'gone' || refusal === null || (refusal.kind === 'stale' && response.configVersion > refusal.configVersion))
          refusal = response;
      }),
    );
    return refusal;
  };

  /** Claims, appends, and settles the ids claimed for another key at their own shard (then appended once more). */
  const round = async (indices: number[]): Promise<Exclude<AppendResponse, { kind: 'appended' }> | null> => {
    // one shard left: no claims (the log checks none)
    await claimAtHomes(indices.filter((i) => shards > 1 && routed[i]!.home !== routed[i]!.shard));
    if (gone) return { kind: 'gone' };
    if (stale) return stale;
    const refused = await appendToShards(indices);
    if (refused) return refused;
    const contended = indices.filter((i) => results[i]?.kind === 'claim_contended');
    if (contended.length === 0) return null;
    for (const i of contended) results[i] = undefined;
    await claimAtHomes(contended);
    if (gone) return { kind: 'gone' };
    if (stale) return stale;
    return appendToShards(contended);
  };

  /** Items a moving slot refused: `moved` goes on to the new owner at once, `moving` is asked again shortly; then `shard_moving`. */
  const settleMoves = async (indices: number[]): Promise<Exclude<AppendResponse, { kind: 'appended' }> | null> => {
    for (let attempt = 0; ; attempt++) {
      const again = indices.filter((i) => results[i]?.kind === 'moving' || results[i]?.kind === 'moved');
      if (again.length === 0) return null;
      if (attempt >= MOVE_RETRIES) {
        for (const i of again) results[i] = { kind: 'shard_moving' };
        return null;
      }
      let wait = false;
      for (const i of again) {
        const r = results[i]!;
        if (r.kind === 'moved') routed[i]!.shard = r.to;
        else wait = true;
        results[i] = undefined;
      }
      if (wait) await new Promise((resolve) => setTimeout(resolve, MOVE_RETRY_MS));
      const refused = await round(again);
      if (refused) return refused;
    }
  };
  // an id repeated in the request with another key goes after its first copy, which it is then judged against
  const firstSlot = new Map<string, number>();
  const later: number[] = [];
  const first: number[] = [];
  routed.forEach((r, i) => {
    const key = idKey(r.item.sourceId, r.item.ceId);
    const slot = firstSlot.get(key);
    if (slot === undefined) firstSlot.set(key, r.item.slot!);
    (slot === undefined || slot === r.item.slot ? first : later).push(i);
  });
  for (const indices of [first, later]) {
    if (indices.length === 0) continue;
    const refused = (await round(indices)) ?? (await settleMoves(indices));
    if (refused) return refused;
  }
  return { kind: 'appended', results: results.map((r) => r ?? { kind: 'storage_unavailable' }) };
}

function claimOf(item: AppendItem): ClaimRequest {
  return { sourceId: item.sourceId, ceId: item.ceId, slot: item.slot ?? 0, idSlot: item.idSlot ?? 0 };
}
