/**
 * Counts refused ingest requests per tenant, minute and problem code for the metrics API, without
 * slowing ingest: counts gather in isolate memory and one background write per isolate and
 * `FLUSH_AFTER_MS` adds them to Postgres. Counts are best effort: an isolate that dies before its
 * flush, or a flush that fails, loses them (logged).
 */
import { withDb } from '../db/client';
import { addRejections, pruneRejections, type RejectionCount } from '../db/metrics';
import type { IngestOutcome } from './pipeline';

export const FLUSH_AFTER_MS = 1_000;
/**
 * Not a refusal: a request over a rate limit let through because all its events were `critical`
 * (README "Priorities"). Kept with the refusals' counts; the metrics report it on its own.
 */
export const RATE_LIMIT_BYPASSED = 'rate_limit_bypassed';
/** Share of flushes that also delete counts past the longest metrics window. */
const PRUNE_SHARE = 0.01;
const MAX_KEYS = 10_000;

const pending = new Map<string, RejectionCount>();
let flushing = false;

export function countRejection(
  env: { DATABASE_URL: string; NEON_WS_PROXY?: string },
  tenantId: string,
  code: string,
  waitUntil: (p: Promise<unknown>) => void,
  now = Date.now(),
): void {
  const minute = now - (now % 60_000);
  const key = `${tenantId}|${minute}|${code}`;
  const entry = pending.get(key);
  if (entry) entry.count++;
  else if (pending.size < MAX_KEYS) pending.set(key, { tenant_id: tenantId, minute, code, count: 1 });
  if (flushing) return;
  flushing = true;
  waitUntil(
    new Promise((resolve) => setTimeout(resolve, FLUSH_AFTER_MS))
      .then(() => {
        const counts = [...pending.values()];
        pending.clear();
        flushing = false;
        return withDb(env, async (db) => {
          await addRejections(db, counts);
          if (Math.random() < PRUNE_SHARE) await pruneRejections(db);
        });
      })
      .catch((error: unknown) => {
        flushing = false;
        console.warn(JSON.stringify({ msg: 'ingest rejection counts lost', error: String(error) }));
      }),
  );
}

/** Counts the refusals in an ingest outcome: the problem of a refused request, or each refused item of a batch. */
export function countOutcome(
  env: Parameters<typeof countRejection>[0],
  tenantId: string,
  outcome: IngestOutcome,
  waitUntil: (p: Promise<unknown>) => void,
): void {
  const codes =
    outcome.kind === 'problem' ? [outcome.problem.code] : outcome.kind === 'batch' ? outcome.results.flatMap((r) => ('code' in r ? [r.code] : [])) : [];
  for (const code of codes) countRejection(env, tenantId, code, waitUntil);
}
