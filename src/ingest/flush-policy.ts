/** Backoff for outbox flushes while Postgres is unreachable: 1 s doubling to 60 s, ±20 % jitter. */
export function flushBackoffMs(failures: number, random = Math.random): number {
  const base = Math.min(60_000, 1_000 * 2 ** Math.max(0, failures - 1));
  return Math.round(base * (0.8 + 0.4 * random()));
}
