/**
 * Ticks for the stream mux (src/http/stream-mux.ts), which merges the shards of a multi-shard tenant
 * by `(received_at, sequence)`: a shard that has sent one of its mux listeners nothing for
 * {@link TICK_MS} tells it how far it has got, so the mux can emit the other shards' events without
 * waiting for this shard's next one.
 *
 * A tick `{"type":"tick","through":[receivedAt, sequence]}` promises that nothing at or before that
 * position will come from this shard. Why that holds:
 * - it goes only to a live listener, and only while the hub's publish queue is empty: every event
 *   appended so far was then sent to it (or skipped by its filter), as nothing waits in the queue or a
 *   held list, and sends leave in order. (Not "its cursor is at the head": a log that learns its shard
 *   from an id claim moves its head to shard·10^13 without an event.)
 * - its position is the log's append position: the head, and the monotonic `received_at` clamp, which
 *   the log first moves up to now (TenantLog `advanceClock`, in memory: the promise only has to hold
 *   while the object lives, as a restart ends the mux's upstream). A later append is stamped at or
 *   after the clamp with a higher sequence, so it comes after the tick.
 * Both are read in one synchronous step, so no append can fall between them.
 */
import type { Listener } from './stream-fan-out';

export const TICK_MS = 200;

export const tickMessage = (receivedAt: number, sequence: number) => `{"type":"tick","through":[${receivedAt},${sequence}]}`;

/**
 * The mux listeners owed a tick (checked every {@link TICK_MS}, only while nothing waits to be
 * published): live, and sent nothing for half a tick (one just sent a frame has a fresh position; the
 * next round ticks it).
 */
export function dueTicks(listeners: Iterable<Listener>, now: number): Listener[] {
  const due: Listener[] = [];
  for (const l of listeners) if (l.mux && l.live && !l.closed && now - l.sentAt >= TICK_MS / 2) due.push(l);
  return due;
}
