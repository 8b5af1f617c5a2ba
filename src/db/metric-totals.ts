/**
 * What GET /metrics reads: the running totals migration 0010 keeps (triggers on events, deliveries
 * and delivery_attempts; addRejections for refused requests), for the tenants that received events in
 * the last hour. One round trip of primary-key reads: a scrape never counts the events or attempts.
 */
import { z } from 'zod';
import type { Db } from './client';

export interface ScrapeLimits {
  /** Tenants per scrape, the most recently active first. */
  tenants: number;
  /** Subscriptions named per scrape (the busiest); the others are summed per tenant as `_other`. */
  subscriptions: number;
}

/** The label the subscriptions beyond the limit are summed under. */
export const OTHER_SUBSCRIPTION = '_other';

const bigint = z.union([z.string(), z.number()]).transform(Number).pipe(z.number().int().nonnegative());

const scrapeRow = z.object({
  tenants: z.array(z.object({ tenant_id: z.string(), accepted: bigint, pending: bigint, disabled: bigint })),
  rejected: z.array(z.object({ tenant_id: z.string(), code: z.string(), total: bigint })),
  deliveries: z.array(z.object({ tenant_id: z.string(), subscription: z.string(), status: z.string(), total: bigint })),
  latency: z.array(z.object({ tenant_id: z.string(), le_ms: z.number().int(), count: bigint, sum_ms: bigint })),
});

export type MetricTotals = z.infer<typeof scrapeRow>;

export async function metricTotals(db: Db, limits: ScrapeLimits): Promise<MetricTotals> {
  const result = await db.query(
    `WITH active AS (
       SELECT tenant_id, accepted FROM event_totals WHERE last_received_at >= now() - interval '1 hour'
        ORDER BY last_received_at DESC LIMIT $1
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
          'tenant_id', a.tenant_id, 'accepted', a.accepted,
          'pending', (SELECT count(*) FROM deliveries d WHERE d.tenant_id = a.tenant_id AND d.status = 'pending'),
          'disabled', (SELECT count(*) FROM subscriptions s WHERE s.tenant_id = a.tenant_id AND NOT s.enabled))), '[]') FROM active a) AS tenants,
       (SELECT COALESCE(jsonb_agg(jsonb_build_object('tenant_id', tenant_id, 'code', code, 'total', total)), '[]')
          FROM ingest_rejection_totals JOIN active USING (tenant_id)) AS rejected,
       (SELECT COALESCE(jsonb_agg(jsonb_build_object('tenant_id', tenant_id, 'subscription', subscription, 'status', status, 'total', total)), '[]')
          FROM (SELECT tenant_id, CASE WHEN rank <= $2 THEN subscription_id ELSE '${OTHER_SUBSCRIPTION}' END AS subscription, status, sum(total) AS total
                  FROM subs GROUP BY 1, 2, 3) d) AS deliveries,
       (SELECT COALESCE(jsonb_agg(jsonb_build_object('tenant_id', tenant_id, 'le_ms', le_ms, 'count', count, 'sum_ms', sum_ms) ORDER BY tenant_id, le_ms), '[]')
          FROM attempt_latency_totals JOIN active USING (tenant_id)) AS latency`,
    [limits.tenants, limits.subscriptions],
  );
  return scrapeRow.parse(result.rows[0]);
}
