/**
 * Priority lanes: one Cloudflare Queue per priority, each with its own consumer settings in
 * wrangler.toml, so critical and high deliveries overtake a backlog of normal and low ones instead of
 * waiting behind it in one queue. A delivery's lane is fixed when it is planned (the event's
 * `priority`, else its subscription's default, else `normal`) and stored with it; every later send
 * (a retry the consumer asks for, a redrive, a manual or bulk retry, a replay) uses the same lane.
 * The consumer's own `retry()` stays on the queue the message came from.
 */
import { PRIORITIES, priorityOf, type Priority } from '../lib/priority';
import type { DeliveryMessage } from '../lib/queue-messages';

/** The delivery's lane: the event's explicit priority wins over the subscription's default. */
export function deliveryPriority(eventPriority: unknown, subscriptionDefault: Priority | null | undefined): Priority {
  return priorityOf(eventPriority) ?? subscriptionDefault ?? 'normal';
}

/** The order the TenantLog sends its staged messages in: 0 (critical) first. */
export function laneRank(priority: Priority): number {
  return 3 - PRIORITIES.indexOf(priority);
}

export function rankPriority(rank: number): Priority {
  return PRIORITIES[3 - rank] ?? 'normal';
}

type LaneQueues = Pick<Env, 'DELIVERY_QUEUE' | 'DELIVERY_QUEUE_HIGH' | 'DELIVERY_QUEUE_CRITICAL' | 'DELIVERY_QUEUE_LOW'>;

/** The queue of a lane; `normal` is the original `switchyard-deliveries` queue. */
export function laneQueue(env: LaneQueues, priority: Priority): Queue {
  switch (priority) {
    case 'critical':
      return env.DELIVERY_QUEUE_CRITICAL;
    case 'high':
      return env.DELIVERY_QUEUE_HIGH;
    case 'low':
      return env.DELIVERY_QUEUE_LOW;
    case 'normal':
      return env.DELIVERY_QUEUE;
  }
}

/** At most this many messages per `sendBatch` (the platform's limit is 100). */
const SEND_BATCH = 100;

/** Sends delivery messages, each to its lane's queue, the higher lanes first. */
export async function sendToLanes(env: LaneQueues, messages: readonly DeliveryMessage[]): Promise<void> {
  const byLane = Map.groupBy(messages, (m) => priorityOf(m.priority) ?? 'normal');
  for (const priority of [...PRIORITIES].reverse()) {
    const lane = byLane.get(priority) ?? [];
    for (let i = 0; i < lane.length; i += SEND_BATCH) {
      await laneQueue(env, priority).sendBatch(lane.slice(i, i + SEND_BATCH).map((body) => ({ body, contentType: 'json' as const })));
    }
  }
}
