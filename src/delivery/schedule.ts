/**
 * Delayed delivery (README "Delayed delivery"): a delivery's first attempt waits until
 * max(the event's `deliverat`, its receipt + the subscription's `delay_seconds`). Pure: the TenantLog
 * applies it to each flushed batch and the consumer to the messages it receives.
 *
 * Rules a reader would not guess:
 * - A delivery that must wait is stored `scheduled` with `scheduled_for` (db/events.ts). A wait the
 *   queue can hold (at most {@link QUEUE_MAX_DELAY_SECONDS}, Cloudflare Queues' longest delay: 12 h)
 *   travels as a delayed message (`not_before` in its body, turned into `delaySeconds` when sent);
 *   a longer one is not sent at all: it stays in Postgres until the every-minute sweep
 *   (./schedule-sweep.ts) releases it through the TenantLog, as the redrive does.
 * - An ordered delivery goes into its line as usual: the line's head is sent when its turn comes and
 *   the consumer sends a head that is not yet due back to the queue with the rest of its wait (or,
 *   for a long one, leaves it to the sweep), so the deliveries behind it keep waiting their turn.
 * - The sweep also sends any due delivery still scheduled (its delayed message is late or was lost);
 *   a second message is harmless, the consumer's claim runs one attempt at a time. So nothing waits
 *   on the queue alone, and the redrive sweep, which looks at pending deliveries, never sees them.
 * - Pause and breaker hold a due delivery like any pending one: the claim skips it, the sweep makes it
 *   pending without sending it, and the resume or the breaker's close releases it.
 * - Only the first attempt waits: retries keep their own schedule.
 */
import { QUEUE_MAX_DELAY_SECONDS } from './retry-policy';

export { MAX_DELAY_SECONDS } from '../lib/deliver-at';

/** When the first attempt may start (epoch ms), or null when nothing holds it back. */
export function notBefore(deliverAt: unknown, receivedAt: number, delaySeconds: number): number | null {
  const at = typeof deliverAt === 'string' ? Date.parse(deliverAt) : Number.NaN;
  const times = [Number.isFinite(at) ? at : null, delaySeconds > 0 ? receivedAt + delaySeconds * 1000 : null].filter((t) => t !== null);
  return times.length > 0 ? Math.max(...times) : null;
}

/** What the schedule needs of a flushed event: its `deliverat` as stored and its receipt (epoch ms). */
export interface EventTimes {
  sequence: number;
  deliverat?: unknown;
  received_at?: number;
}

/**
 * The planned deliveries with `notBefore` set where they must wait past `now`. Events are matched by
 * sequence, subscriptions by id (their `delaySeconds`).
 */
export function scheduleDeliveries<D extends { subscriptionId: string; sequence: number }>(
  planned: D[],
  events: readonly EventTimes[],
  routes: readonly { id: string; delaySeconds?: number }[],
  now: number,
): (D & { notBefore: number | null })[] {
  const delays = new Map(routes.map((r) => [r.id, r.delaySeconds ?? 0]));
  const bySequence = new Map(events.map((e) => [e.sequence, e]));
  return planned.map((d) => {
    const event = bySequence.get(d.sequence);
    const at = event ? notBefore(event.deliverat, event.received_at ?? now, delays.get(d.subscriptionId) ?? 0) : null;
    return { ...d, notBefore: at !== null && at > now ? at : null };
  });
}

/** Whether the flush stages a delivery's message now: all but unordered ones whose wait is longer than the queue holds. */
export function sentAtFlush(d: { ordered: boolean; notBefore?: number | null }, now: number): boolean {
  return d.ordered || !d.notBefore || d.notBefore - now <= QUEUE_MAX_DELAY_SECONDS * 1000;
}

/** The `delaySeconds` to send a staged message with: the rest of its wait, whole seconds rounded up; undefined when due. */
export function queueDelaySeconds(body: { not_before?: number }, now: number): number | undefined {
  if (body.not_before === undefined || body.not_before <= now) return undefined;
  return Math.min(QUEUE_MAX_DELAY_SECONDS, Math.ceil((body.not_before - now) / 1000));
}
