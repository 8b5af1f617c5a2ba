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

export async function addRejections(db: Db, counts: RejectionCount[]): Promise<void> {
  await db.query(
    `INSERT INTO ingest_rejections (tenant_id, minute, code, count)
     SELECT x.tenant_id, to_timestamp(x.minute / 1000.0), x.code, x.count
       FROM jsonb_to_recordset($1::jsonb) AS x(tenant_id text, minute bigint, code text, count int)
     ON CONFLICT (tenant_id, minute, code) DO UPDATE SET count = ingest_rejections.count + EXCLUDED.count`,
    [JSON.stringify(counts)],
  );
}

/** Forgets counts older than the longest metrics window. */
export async function pruneRejections(db: Db): Promise<void> {
  await db.query(`DELETE FROM ingest_rejections WHERE minute < now() - interval '31 days'`);
}

/** `count(*)` is a bigint, which the driver hands over as text. */
const count = z.union([z.string(), z.number()]).transform(Number).pipe(z.number().int().nonnegative());

const tenantMetricsRow = z.object({
  accepted: count,
  rejected: z.record(z.string(), z.number()),
  deliveries: z.record(z.string(), z.number()),
  p50_ms: z.number().nullable(),
  p95_ms: z.number().nullable(),
  pending: count,
  /** Events received in the window that Postgres refused and `quarantined_events` holds. */
  quarantined: count,
});

export type TenantMetricsRow = z.infer<typeof tenantMetricsRow>;

/** One round trip: everything of the window except the TenantLog's own backlog. */
export async function tenantMetrics(db: Db, tenantId: string, windowSeconds: number): Promise<TenantMetricsRow> {
  const result = await db.query(
    `WITH since AS (SELECT now() - make_interval(secs => $2) AS at)
     SELECT
       (SELECT count(*) FROM events WHERE tenant_id = $1 AND received_at >= (SELECT at FROM since)) AS accepted,
       (SELECT COALESCE(jsonb_object_agg(code, n), '{}') FROM (
          SELECT code, sum(count)::int AS n FROM ingest_rejections
           WHERE tenant_id = $1 AND minute >= date_trunc('minute', (SELECT at FROM since)) GROUP BY code) r) AS rejected,
       (SELECT COALESCE(jsonb_object_agg(status, n), '{}') FROM (
          SELECT status, count(*)::int AS n FROM deliveries
           WHERE tenant_id = $1 AND created_at >= (SELECT at FROM since) GROUP BY status) d) AS deliveries,
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
    [tenantId, windowSeconds],
  );
  return tenantMetricsRow.parse(result.rows[0]);
}
