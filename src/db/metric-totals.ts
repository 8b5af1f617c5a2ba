/**
 * What GET /metrics reads from Postgres: the running totals migration 0010 keeps (triggers on
 * deliveries and delivery_attempts; addRejections for refused requests), for up to `limits.tenants`
 * tenants, the most recently active first: by the later of a tenant's newest stored event and its
 * creation. Quiet tenants are not left out while there is room: one whose flushes have stalled has
 * stored nothing lately, and its outbox lag is the series an operator alerts on. One round trip: one
 * index probe per tenant (its newest event, on events_position_idx) ranks them, then primary-key reads
 * of their totals; a scrape never counts the events, deliveries or attempts tables (pending deliveries
 * excepted, on deliveries_status_idx).
 */
import { z } from 'zod';
import type { Db } from './client';

export interface ScrapeLimits {
  /** Tenants per scrape, the most recently active first (the later of the newest stored event and the tenant's creation). */
  tenants: number;
  /** Subscriptions named per scrape (the busiest); the others are summed per tenant as `_other`. */
  subscriptions: number;
}

/** The label the subscriptions beyond the limit are summed under. */
export const OTHER_SUBSCRIPTION = '_other';

const bigint = z.union([z.string(), z.number()]).transform(Number).pipe(z.number().int().nonnegative());

const scrapeRow = z.object({
  tenants: z.array(
    z.object({ tenant_id: z.string(), shards: z.number().int().default(1), pending: bigint, disabled: bigint, breaker_open: bigint, paused: bigint }),
  ),
  rejected: z.array(z.object({ tenant_id: z.string(), code: z.string(), total: bigint })),
  deliveries: z.array(z.object({ tenant_id: z.string(), subscription: z.string(), status: z.string(), total: bigint })),
  latency: z.array(z.object({ tenant_id: z.string(), le_ms: z.number().int(), count: bigint, sum_ms: bigint })),
});

export type MetricTotals = z.infer<typeof scrapeRow>;

/** One of `of` disjoint parts of the tenants (`/metrics?part=index/of`), for a scrape job each when one scrape's limit is too few. */
export interface ScrapePart {
  index: number;
  of: number;
}

/**
 * The part a tenant falls in: the first 32 bits of the MD5 of its id, modulo the number of parts (SQL
 * over a tenant id column). Stable across Postgres versions and deployments, unlike `hashtext`.
 */
const partOf = (id: string, of: string) => `('x' || left(md5(${id}), 8))::bit(32)::bigint % ${of}`;

export async function metricTotals(db: Db, limits: ScrapeLimits, part?: ScrapePart): Promise<MetricTotals> {
  const result = await db.query(
    `WITH active AS (
       SELECT t.id AS tenant_id, t.shard_span AS shards, greatest(newest.received_at, t.created_at) AS active_at FROM tenants t
         LEFT JOIN LATERAL (SELECT received_at FROM events e WHERE e.tenant_id = t.id ORDER BY received_at DESC LIMIT 1) newest ON true
        WHERE $3::int IS NULL OR ${partOf('t.id', '$3::int')} = $4::int
        ORDER BY active_at DESC, t.id LIMIT $1
     ),
     subs AS (
       SELECT d.tenant_id, d.subscription_id, d.status, d.total,
              dense_rank() OVER (ORDER BY s.total DESC, d.tenant_id, d.subscription_id) AS rank
         FROM delivery_totals d JOIN active a USING (tenant_id)
         JOIN (SELECT tenant_id, subscription_id, sum(total) AS total FROM delivery_totals JOIN active USING (tenant_id)
                GROUP BY 1, 2) s USING (tenant_id, subscription_id)
     )
     SELECT
       (SELECT COALESCE(jsonb_agg(jsonb_build_object(
          'tenant_id', a.tenant_id, 'shards', a.shards,
          'pending', (SELECT count(*) FROM deliveries d WHERE d.tenant_id = a.tenant_id AND d.status = 'pending'))
          || (SELECT jsonb_build_object('disabled', count(*) FILTER (WHERE NOT s.enabled),
                                        'breaker_open', count(*) FILTER (WHERE s.enabled AND s.breaker_opened_at IS NOT NULL),
                                        'paused', count(*) FILTER (WHERE s.enabled AND s.paused_at IS NOT NULL))
                FROM subscriptions s WHERE s.tenant_id = a.tenant_id)
          ORDER BY a.active_at DESC, a.tenant_id), '[]')
          FROM active a) AS tenants,
       (SELECT COALESCE(jsonb_agg(jsonb_build_object('tenant_id', tenant_id, 'code', code, 'total', total)), '[]')
          FROM ingest_rejection_totals JOIN active USING (tenant_id)) AS rejected,
       (SELECT COALESCE(jsonb_agg(jsonb_build_object('tenant_id', tenant_id, 'subscription', subscription, 'status', status, 'total', total)), '[]')
          FROM (SELECT tenant_id, CASE WHEN rank <= $2 THEN subscription_id ELSE '${OTHER_SUBSCRIPTION}' END AS subscription, status, sum(total) AS total
                  FROM subs GROUP BY 1, 2, 3) d) AS deliveries,
       (SELECT COALESCE(jsonb_agg(jsonb_build_object('tenant_id', tenant_id, 'le_ms', le_ms, 'count', count, 'sum_ms', sum_ms) ORDER BY tenant_id, le_ms), '[]')
          FROM attempt_latency_totals JOIN active USING (tenant_id)) AS latency`,
    [limits.tenants, limits.subscriptions, part?.of ?? null, part?.index ?? null],
  );
  return scrapeRow.parse(result.rows[0]);
}
