/** What the metrics API reads, and the counts of refused ingest requests it cannot read elsewhere. */
import { z } from 'zod';
import type { Db } from './client';

export interface RejectionCount {
  tenant_id: string;
  /** Unix ms of the minute the rejections fell in. */
  minute: number;
  code: string;
  count: number;
}

/** Adds refused requests to the per-minute counts (the metrics API) and the running totals (GET /metrics). */
export async function addRejections(db: Db, counts: RejectionCount[]): Promise<void> {
  await db.query(
    `WITH x AS (
       SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(tenant_id text, minute bigint, code text, count int)
     ), minutes AS (
       INSERT INTO ingest_rejections (tenant_id, minute, code, count)
       SELECT x.tenant_id, to_timestamp(x.minute / 1000.0), x.code, x.count FROM x
       ON CONFLICT (tenant_id, minute, code) DO UPDATE SET count = ingest_rejections.count + EXCLUDED.count
     )
     INSERT INTO ingest_rejection_totals AS t (tenant_id, code, total)
     SELECT x.tenant_id, x.code, sum(x.count) FROM x WHERE EXISTS (SELECT 1 FROM tenants WHERE id = x.tenant_id)
      GROUP BY 1, 2 ORDER BY 1, 2
     ON CONFLICT (tenant_id, code) DO UPDATE SET total = t.total + EXCLUDED.total`,
    [JSON.stringify(counts)],
  );
}

/** Forgets counts older than the longest metrics window. */
export async function pruneRejections(db: Db): Promise<void> {
  await db.query(`DELETE FROM ingest_rejections WHERE minute < now() - interval '31 days'`);
}

/** `count(*)` is a bigint, which the driver hands over as text. */
const count = z.union([z.string(), z.number()]).transform(Number).pipe(z.number().int().nonnegative());

/** How many event types and subscriptions the breakdowns name; the rest are summed as "other". */
export const BREAKDOWN_LIMIT = 50;

const typeCount = z.object({ type: z.string(), count: z.number().int() });
const subscriptionCount = z.object({ subscription_id: z.string(), by_status: z.record(z.string(), z.number().int()) });

const tenantMetricsRow = z.object({
  rejected: z.record(z.string(), z.number()),
  deliveries: z.record(z.string(), z.number()),
  p50_ms: z.number().nullable(),
  p95_ms: z.number().nullable(),
  pending: count,
  /** Events received in the window that Postgres refused and `quarantined_events` holds. */
  quarantined: count,
  /** The BREAKDOWN_LIMIT most frequent types, then the sum of the rest. */
  by_type: z.array(typeCount),
  other_types: z.object({ types: z.number().int(), count: z.number().int() }),
  by_subscription: z.array(subscriptionCount),
  other_subscriptions: z.object({ subscriptions: z.number().int(), by_status: z.record(z.string(), z.number().int()) }),
});

export type TenantMetricsRow = z.infer<typeof tenantMetricsRow> & { accepted: number };

/**
 * One round trip: everything of the window except the TenantLog's own backlog. Events and deliveries
 * of the window are each read once (by type, by subscription and status); the totals are sums of those.
 */
export async function tenantMetrics(db: Db, tenantId: string, windowSeconds: number): Promise<TenantMetricsRow> {
  const result = await db.query(
    `WITH since AS (SELECT now() - make_interval(secs => $2) AS at),
     types AS (
       SELECT type, count(*)::int AS n, row_number() OVER (ORDER BY count(*) DESC, type) AS rank
         FROM events WHERE tenant_id = $1 AND received_at >= (SELECT at FROM since) GROUP BY type
     ),
     subs AS (
       SELECT subscription_id, status, count(*)::int AS n FROM deliveries
        WHERE tenant_id = $1 AND created_at >= (SELECT at FROM since) GROUP BY subscription_id, status
     ),
     sub_rank AS (
       SELECT subscription_id, jsonb_object_agg(status, n) AS by_status, row_number() OVER (ORDER BY sum(n) DESC, subscription_id) AS rank
         FROM subs GROUP BY subscription_id
     )
     SELECT
       (SELECT COALESCE(jsonb_agg(jsonb_build_object('type', type, 'count', n) ORDER BY rank), '[]') FROM types WHERE rank <= $3) AS by_type,
       (SELECT jsonb_build_object('types', count(*), 'count', COALESCE(sum(n), 0)) FROM types WHERE rank > $3) AS other_types,
       (SELECT COALESCE(jsonb_object_agg(code, n), '{}') FROM (
          SELECT code, sum(count)::int AS n FROM ingest_rejections
           WHERE tenant_id = $1 AND minute >= date_trunc('minute', (SELECT at FROM since)) GROUP BY code) r) AS rejected,
       (SELECT COALESCE(jsonb_object_agg(status, n), '{}') FROM (SELECT status, sum(n)::int AS n FROM subs GROUP BY status) d) AS deliveries,
       (SELECT COALESCE(jsonb_agg(jsonb_build_object('subscription_id', subscription_id, 'by_status', by_status) ORDER BY rank), '[]')
          FROM sub_rank WHERE rank <= $3) AS by_subscription,
       (SELECT jsonb_build_object('subscriptions', (SELECT count(*) FROM sub_rank WHERE rank > $3), 'by_status', COALESCE(jsonb_object_agg(status, n), '{}'))
          FROM (SELECT s.status, sum(s.n)::int AS n FROM subs s JOIN sub_rank r USING (subscription_id) WHERE r.rank > $3 GROUP BY s.status) o) AS other_subscriptions,
       l.p50 AS p50_ms, l.p95 AS p95_ms,
       (SELECT count(*) FROM deliveries WHERE tenant_id = $1 AND status = 'pending') AS pending,
       (SELECT count(*) FROM quarantined_events WHERE tenant_id = $1 AND received_at >= (SELECT at FROM since)) AS quarantined
     FROM (
       SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS p50, percentile_cont(0.95) WITHIN GROUP (ORDER BY ms) AS p95
         FROM (SELECT extract(epoch FROM d.finished_at - e.received_at) * 1000 AS ms
                 FROM deliveries d JOIN events e ON e.tenant_id = d.tenant_id AND e.id = d.event_id
                WHERE d.tenant_id = $1 AND d.status = 'delivered' AND d.replay_id IS NULL
                  AND d.created_at >= (SELECT at FROM since)) x
     ) l`,
    [tenantId, windowSeconds, BREAKDOWN_LIMIT],
  );
  const row = tenantMetricsRow.parse(result.rows[0]);
  return { ...row, accepted: row.by_type.reduce((sum, t) => sum + t.count, row.other_types.count) };
}
