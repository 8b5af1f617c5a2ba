/**
 * A tenant's metrics over time (GET …/metrics/series), one round trip: per bucket, events stored
 * (events.received_at), refused ingest requests by code (ingest_rejections, per minute), deliveries
 * created that are now delivered or failed (deliveries.created_at), and the attempts that reached an
 * endpoint with their success ratio and latency percentiles (delivery_attempts.started_at). Buckets are
 * `date_bin` bins aligned to the Unix epoch, empty ones included. The attempts are read through
 * (tenant_id, started_at), newest first and at most SERIES_MAX_ATTEMPTS of them; `truncated` says when
 * the attempt figures cover only the newest attempts of the window (older buckets then show fewer).
 */
import type { Db } from './client';
import { HEALTH_WINDOWS, type HealthWindow } from './subscription-health';
import { iso } from './sql';

export const SERIES_MAX_ATTEMPTS = 200_000;

/** The same windows and buckets as a subscription's health view: per minute for 1h, per hour for 24h and 7d. */
export const SERIES_WINDOWS = HEALTH_WINDOWS;
export type SeriesWindow = HealthWindow;
export const bucketSeconds = (window: SeriesWindow): number => (HEALTH_WINDOWS[window].bucket === 'minute' ? 60 : 3600);

export interface SeriesPoint {
  at: string;
  events_accepted: number;
  rejected: Record<string, number>;
  deliveries_delivered: number;
  deliveries_failed: number;
  attempts: number;
  success_ratio: number | null;
  latency_ms: { p50: number | null; p95: number | null };
}

export interface SeriesRow {
  from: string;
  to: string;
  truncated: boolean;
  series: SeriesPoint[];
}

export async function tenantMetricsSeries(db: Db, tenantId: string, window: SeriesWindow, limit = SERIES_MAX_ATTEMPTS): Promise<SeriesRow> {
  const interval = HEALTH_WINDOWS[window].interval;
  const stride = `${bucketSeconds(window)} seconds`;
  // the window's start as an expression (not a CTE's column), so each read walks its index by range
  const since = `date_bin($3::interval, now() - $2::interval, TIMESTAMPTZ '1970-01-01 00:00:00+00')`;
  const bin = (column: string) => `date_bin($3::interval, ${column}, TIMESTAMPTZ '1970-01-01 00:00:00+00')`;
  const result = await db.query<SeriesRow>(
    `WITH span AS (
       SELECT ${since} AS since, now() AS until
     ), buckets AS (
       SELECT b FROM span, generate_series(span.since, ${bin('span.until')}, $3::interval) AS b
     ), accepted AS (
       SELECT ${bin('received_at')} AS b, count(*)::int AS n FROM events
        WHERE tenant_id = $1 AND received_at >= ${since} GROUP BY 1
     ), rejected AS (
       SELECT b, jsonb_object_agg(code, n) AS codes FROM (
         SELECT ${bin('minute')} AS b, code, sum(count)::int AS n FROM ingest_rejections
          -- rate_limit_bypassed counts requests that went through (README "Priorities"), not refusals
          WHERE tenant_id = $1 AND minute >= ${since} AND code <> 'rate_limit_bypassed' GROUP BY 1, 2
       ) r GROUP BY b
     ), finished AS (
       SELECT ${bin('created_at')} AS b, (count(*) FILTER (WHERE status = 'delivered'))::int AS delivered,
              (count(*) FILTER (WHERE status = 'failed'))::int AS failed
         FROM deliveries WHERE tenant_id = $1 AND status IN ('delivered', 'failed') AND created_at >= ${since} GROUP BY 1
     ), recent AS (
       SELECT a.started_at, a.latency_ms, a.outcome = 'delivered' AS ok FROM delivery_attempts a
        WHERE a.tenant_id = $1 AND a.started_at >= ${since} AND a.outcome <> 'skipped'
        ORDER BY a.started_at DESC LIMIT $4
     ), tried AS (
       SELECT ${bin('started_at')} AS b, count(*)::int AS n, (count(*) FILTER (WHERE ok))::int AS ok,
              round(percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms)::numeric, 1)::float8 AS p50,
              round(percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms)::numeric, 1)::float8 AS p95
         FROM recent GROUP BY 1
     )
     SELECT ${iso('span.since', 'from')}, ${iso('span.until', 'to')},
            (SELECT count(*) FROM recent) >= $4 AS truncated,
            (SELECT json_agg(json_build_object(
                      'at', to_char(k.b AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                      'events_accepted', COALESCE(a.n, 0),
                      'rejected', COALESCE(r.codes, '{}'::jsonb),
                      'deliveries_delivered', COALESCE(f.delivered, 0),
                      'deliveries_failed', COALESCE(f.failed, 0),
                      'attempts', COALESCE(t.n, 0),
                      'success_ratio', CASE WHEN t.n > 0 THEN round(t.ok::numeric / t.n, 4)::float8 END,
                      'latency_ms', json_build_object('p50', t.p50, 'p95', t.p95)) ORDER BY k.b)
               FROM buckets k LEFT JOIN accepted a USING (b) LEFT JOIN rejected r USING (b)
               LEFT JOIN finished f USING (b) LEFT JOIN tried t USING (b)) AS series
       FROM span`,
    [tenantId, interval, stride, limit],
  );
  return result.rows[0]!;
}
