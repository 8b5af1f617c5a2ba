/**
 * One step of a replay: the next chunk of stored events (after the replay's cursor) that match its
 * filter, fanned out to its subscription (or every enabled one whose own types and filter match), as
 * new deliveries. Steps chain through the queue until the range is done; the replay row shows the
 * progress. Re-running a step after a crash repeats nothing: the delivery ids derive from (replay,
 * subscription, event). A replay whose `from` lies past the event retention gets the archived
 * stretches of its range back into Postgres first (src/archive/restore.ts).
 *
 * The walk's order is the events API's: by sequence on one shard, and on a tenant with more than one
 * shard by `(received_at, sequence)` up to every shard's horizon. Sequence order is not per-key order
 * there: a key that moved to a shard with a lower number has older events with larger sequences. For
 * the same reason a key's ordered deliveries of one chunk are staged together, in that order, on the
 * shard of the first of them (its line follows the key's moves from there; tenancy/line-follow.ts).
 */
import { compileFilter } from '../delivery/filter';
import { compileRoutes, planDeliveries } from '../delivery/fan-out';
import { sendToLanes } from '../delivery/lanes';
import { type Db, withDb } from '../db/client';
import { insertReplayDeliveries } from '../db/deliveries-replay';
import { nextReplayChunk, type PositionWalk } from '../archive/restore';
import { findTenant } from '../db/tenants';
import { advanceReplay, findReplay, type ReplayRow } from '../db/replays';
import { loadRouting } from '../db/subscriptions';
import { matchesAny } from '../lib/type-pattern';
import { MAX_REPLAY_WAITS, type ReplayMessage } from '../lib/queue-messages';
import { shardOfSequence, storedHorizon } from '../tenancy/shard-routing';
import { stageOrderedOnShard } from '../tenancy/line-follow';

export const REPLAY_CHUNK = 500;
/**
 * A walk by position whose rest is not stored by every shard yet asks again after 1 s, then, while
 * steps in a row find nothing new, after twice as long each time up to a minute: a shard whose outbox
 * cannot reach Postgres for hours costs a queue message a minute, not one a second.
 */
export function behindDelaySeconds(waits: number): number {
  return Math.min(2 ** waits, BEHIND_MAX_DELAY_SECONDS);
}
const BEHIND_MAX_DELAY_SECONDS = 60;

/** An event's `received_at` (ISO 8601, as read) as the fan-out takes it: epoch ms, or nothing when it does not parse. */
function receivedMs(receivedAt: string): { received_at?: number } {
  const ms = Date.parse(receivedAt);
  return Number.isFinite(ms) ? { received_at: ms } : {};
}

/**
 * How a replay walks (undefined: by sequence). By position on a tenant that has had more than one shard,
 * unless the replay already went some way by sequence before the tenant's first change of its count
 * (growing from one shard moves keys to higher numbers only, so that walk keeps per-key order).
 */
async function positionWalk(env: Env, db: Db, replay: ReplayRow): Promise<PositionWalk | undefined> {
  if (replay.cursor_received_ms === null && replay.cursor_sequence > 0) return undefined;
  const span = (await findTenant(db, replay.tenant_id))?.shard_span ?? 1;
  if (span <= 1 && replay.cursor_received_ms === null) return undefined;
  // what it owes: events received before its creation, and before `to` (exclusive) when that came first
  const created = Date.parse(replay.created_at);
  const targetMs = replay.filter.to ? Math.min(Date.parse(replay.filter.to) - 1, created) : created;
  return { horizonMs: await storedHorizon(env, replay.tenant_id, span), targetMs };
}

export async function runReplayStep(env: Env, message: ReplayMessage): Promise<{ kind: 'done' } | { kind: 'retry'; error: string }> {
  await withDb(env, async (db) => {
    const replay = await findReplay(db, message.tenant_id, message.replay_id);
    if (replay?.status !== 'running') return;
    const where = compileFilter(replay.filter.where);
    // Postgres's events, and the archive's where a replay from an older time reaches past retention
    const chunk = await nextReplayChunk(db, env.ARCHIVE, replay, REPLAY_CHUNK, await positionWalk(env, db, replay));
    if (chunk.kind === 'failed') {
      const cursor = { cursor: replay.cursor_sequence, cursorReceivedMs: replay.cursor_received_ms };
      await advanceReplay(db, replay.id, { ...cursor, matched: 0, deliveries: 0, done: true, error: chunk.error });
      return;
    }
    const { events } = chunk;
    const selected = events.filter(
      (e) => (!replay.filter.types?.length || matchesAny(replay.filter.types, String(e.event.type))) && (!where.ok || where.test(e.event)),
    );
    const routing = await loadRouting(db, replay.tenant_id);
    const routes = compileRoutes(routing.subscriptions.filter((s) => !replay.subscription_id || s.id === replay.subscription_id));
    const planned = (
      await planDeliveries(
        selected.map((e) => ({
          id: `${e.id}:${replay.id}`,
          sequence: e.sequence,
          type: String(e.event.type),
          subject: typeof e.event.subject === 'string' ? e.event.subject : null,
          partition_key: typeof e.event.partitionkey === 'string' ? e.event.partitionkey : null,
          priority: e.event.priority,
          // the planned deliveries carry it (`receivedAt`): their messages, and the ordered lines they join
          ...receivedMs(e.received_at),
          event: JSON.stringify(e.event),
        })),
        routes,
      )
    ).map((d) => ({ ...d, eventId: d.eventId.slice(0, d.eventId.indexOf(':')) }));
    // a delivery is partitioned by its event's received_at (migration 0020)
    const receivedAt = new Map(events.map((e) => [e.sequence, e.received_at]));
    await insertReplayDeliveries(
      db,
      replay.tenant_id,
      replay.id,
      planned.map((d) => ({ ...d, eventReceivedAt: receivedAt.get(d.sequence)! })),
    );

    await sendToLanes(
      env,
      planned
        .filter((d) => !d.ordered)
        .map((d) => ({
          type: 'delivery.v1',
          tenant_id: replay.tenant_id,
          delivery_id: d.id,
          subscription_id: d.subscriptionId,
          partition_key: null,
          priority: d.priority,
          ...(d.receivedAt !== undefined ? { event_received_at: d.receivedAt } : {}),
        })),
    );
    const ordered = planned.filter((d) => d.ordered);
    // each key's together, in chunk order, to the shard of its first event here: a key that moved has events on two
    const firstShard = new Map<string, number>();
    for (const d of ordered) if (!firstShard.has(d.partitionKey)) firstShard.set(d.partitionKey, shardOfSequence(d.sequence));
    for (const [shard, group] of Map.groupBy(ordered, (d) => firstShard.get(d.partitionKey)!)) await stageOrderedOnShard(env, replay.tenant_id, shard, group);

    const { done, cursor } = chunk;
    await advanceReplay(db, replay.id, {
      cursor: cursor.sequence,
      cursorReceivedMs: cursor.receivedMs,
      matched: selected.length,
      deliveries: planned.length,
      restored: chunk.restored,
      done,
    });
    if (!done) {
      // the count of fruitless waits starts again whenever a step moved the cursor
      const waits = chunk.behind ? (events.length > 0 ? 0 : Math.min((message.waits ?? 0) + 1, MAX_REPLAY_WAITS)) : undefined;
      await env.DELIVERY_QUEUE.send(
        { type: 'replay.v1', tenant_id: replay.tenant_id, replay_id: replay.id, ...(waits === undefined ? {} : { waits }) } satisfies ReplayMessage,
        { contentType: 'json', ...(waits === undefined ? {} : { delaySeconds: behindDelaySeconds(waits) }) },
      );
    }
  });
  return { kind: 'done' };
}
