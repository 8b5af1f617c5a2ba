/**
 * A subscription's endpoint health over a window, from its recorded attempts (one round trip). The
 * attempts are read through (subscription_id, started_at), newest first and at most
 * HEALTH_MAX_ATTEMPTS of them, so a busy endpoint's week costs a bounded read; `truncated` says when
 * the numbers cover only the newest attempts of the window. Attempts a transformer skipped reached no
 * endpoint and are left out.
 */
import type { Db } from './client';
import { iso } from './sql';

export const HEALTH_MAX_ATTEMPTS = 100_000;

export const HEALTH_WINDOWS = {
  '1h': { interval: '1 hour', bucket: 'minute' },
  '24h': { interval: '24 hours', bucket: 'hour' },
  '7d': { interval: '7 days', bucket: 'hour' },
} as const;
export type HealthWindow = keyof typeof HEALTH_WINDOWS;

export interface HealthRow {
  since: string;
  until: string;
  attempts: number;
  delivered: number;
  failed: number;
  p50: number | null;
  p95: number | null;
  last_success_at: string | null;
  last_failure_at: string | null;
  /** Read in the same statement as the attempts, so the two agree (a batch recorded between two reads would not). */
  consecutive_failures: number;
  truncated: boolean;
  series: { bucket: string; delivered: number; failed: number }[];
}

export async function subscriptionHealth(
  db: Db,
  tenantId: string,
  subscriptionId: string,
  window: HealthWindow,
  limit = HEALTH_MAX_ATTEMPTS,
): Promise<HealthRow> {
  const { interval, bucket } = HEALTH_WINDOWS[window];
  const result = await db.query<HealthRow>(
    `WITH span AS (
       SELECT now() - $3::interval AS since, now() AS until
     ), recent AS (
       -- the bound as an expression, not span's column, so the planner walks the index newest first and stops at the limit
       SELECT a.started_at, a.latency_ms, a.outcome = 'delivered' AS ok FROM delivery_attempts a
        WHERE a.subscription_id = $2 AND a.tenant_id = $1 AND a.started_at >= now() - $3::interval AND a.outcome <> 'skipped'
        ORDER BY a.started_at DESC LIMIT $5
     ), totals AS (
       SELECT count(*)::int AS attempts, (count(*) FILTER (WHERE ok))::int AS delivered, (count(*) FILTER (WHERE NOT ok))::int AS failed,
              round(percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms)::numeric, 1)::float8 AS p50,
              round(percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms)::numeric, 1)::float8 AS p95,
              max(started_at) FILTER (WHERE ok) AS last_success, max(started_at) FILTER (WHERE NOT ok) AS last_failure
         FROM recent
     ), buckets AS (
       SELECT b AS bucket FROM span, generate_series(date_trunc($4, span.since, 'UTC'), date_trunc($4, span.until, 'UTC'), ('1 ' || $4)::interval) AS b
     ), counted AS (
       SELECT date_trunc($4, started_at, 'UTC') AS bucket, (count(*) FILTER (WHERE ok))::int AS delivered, (count(*) FILTER (WHERE NOT ok))::int AS failed
         FROM recent GROUP BY 1
     )
     SELECT ${iso('span.since', 'since')}, ${iso('span.until', 'until')}, t.attempts, t.delivered, t.failed, t.p50, t.p95,
            ${iso('GREATEST(s.last_success_at, t.last_success)', 'last_success_at')},
            ${iso('GREATEST(s.last_failure_at, t.last_failure)', 'last_failure_at')},
            s.consecutive_failures, t.attempts >= $5 AS truncated,
            (SELECT json_agg(json_build_object('bucket', to_char(b.bucket AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                                               'delivered', COALESCE(c.delivered, 0), 'failed', COALESCE(c.failed, 0)) ORDER BY b.bucket)
               FROM buckets b LEFT JOIN counted c ON c.bucket = b.bucket) AS series
       FROM span, totals t, subscriptions s WHERE s.tenant_id = $1 AND s.id = $2`,
    [tenantId, subscriptionId, interval, bucket, limit],
  );
  return result.rows[0]!;
}
