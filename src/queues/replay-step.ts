/**
 * One step of a replay: the next chunk of stored events (in sequence order, after the replay's
 * cursor) that match its filter, fanned out to its subscription (or every enabled one whose own
 * types and filter match), as new deliveries. Steps chain through the queue until the range is done;
 * the replay row shows the progress. Re-running a step after a crash repeats nothing: the delivery
 * ids derive from (replay, subscription, event).
 */
import { compileFilter } from '../delivery/filter';
import { compileRoutes, planDeliveries } from '../delivery/fan-out';
import { withDb } from '../db/client';
import { insertReplayDeliveries } from '../db/deliveries-replay';
import { listEvents } from '../db/events';
import { advanceReplay, findReplay } from '../db/replays';
import { loadRouting } from '../db/subscriptions';
import { matchesAny } from '../lib/type-pattern';
import type { DeliveryMessage, ReplayMessage } from '../lib/queue-messages';

export const REPLAY_CHUNK = 500;

export async function runReplayStep(env: Env, message: ReplayMessage): Promise<{ kind: 'done' } | { kind: 'retry'; error: string }> {
  await withDb(env, async (db) => {
    const replay = await findReplay(db, message.tenant_id, message.replay_id);
    if (replay?.status !== 'running') return;
    const where = compileFilter(replay.filter.where);
    const events = await listEvents(db, replay.tenant_id, {
      afterSequence: replay.cursor_sequence,
      after: replay.filter.from,
      before: replay.filter.to,
      limit: REPLAY_CHUNK,
    });
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
          event: JSON.stringify(e.event),
        })),
        routes,
      )
    ).map((d) => ({ ...d, eventId: d.eventId.slice(0, d.eventId.indexOf(':')) }));
    await insertReplayDeliveries(db, replay.tenant_id, replay.id, planned);

    const unordered = planned.filter((d) => !d.ordered);
    for (let i = 0; i < unordered.length; i += 100) {
      await env.DELIVERY_QUEUE.sendBatch(
        unordered.slice(i, i + 100).map((d) => ({
          body: {
            type: 'delivery.v1',
            tenant_id: replay.tenant_id,
            delivery_id: d.id,
            subscription_id: d.subscriptionId,
            partition_key: null,
          } satisfies DeliveryMessage,
          contentType: 'json' as const,
        })),
      );
    }
    const ordered = planned.filter((d) => d.ordered);
    if (ordered.length > 0) await env.TENANT_LOG.getByName(replay.tenant_id).stageOrdered(ordered);

    const done = events.length < REPLAY_CHUNK;
    await advanceReplay(db, replay.id, {
      cursor: events.at(-1)?.sequence ?? replay.cursor_sequence,
      matched: selected.length,
      deliveries: planned.length,
      done,
    });
    if (!done)
      await env.DELIVERY_QUEUE.send({ type: 'replay.v1', tenant_id: replay.tenant_id, replay_id: replay.id } satisfies ReplayMessage, { contentType: 'json' });
  });
  return { kind: 'done' };
}
