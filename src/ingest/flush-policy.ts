/**
 * How long the first event after a quiet spell waits for others to join its flush. Every flush costs
 * a Postgres round trip and a durable SQLite write of its own, which then compete with the appends'
 * writes; a few milliseconds of coalescing turns a flush per event into one per handful at moderate
 * rates, for that much added accept-to-store latency. Under a backlog, flushes run back to back.
 */
export const FLUSH_COALESCE_MS = 15;

/** Backoff for outbox flushes while Postgres is unreachable: 1 s doubling to 60 s, ±20 % jitter. */
export function flushBackoffMs(failures: number, random = Math.random): number {
  const base = Math.min(60_000, 1_000 * 2 ** Math.max(0, failures - 1));
  return Math.round(base * (0.8 + 0.4 * random()));
}
