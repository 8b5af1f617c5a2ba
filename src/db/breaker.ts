/**
 * The circuit breaker's probe queries (src/delivery/breaker.ts). They span tenants on purpose (the
 * probe sweep is the platform's, run by the Cron Trigger); each row names its tenant.
 */
import type { Db } from './client';
import type { StrandedRow } from './deliveries-redrive';
import { epochMs } from './sql';

/** A pending delivery chosen to probe an open breaker (the redrive's row shape: it goes out on its lane, through its shard's log). */
export type ProbeRow = StrandedRow;

/**
 * For open breakers whose probe is due (at most `limit`), picks the newest pending delivery as the probe,
 * makes it the one delivery the consumer may attempt (half-open), and schedules the next probe in case
 * this one goes unheard. A breaker with nothing pending waits for a delivery.
 */
export async function pickProbes(db: Db, limit: number): Promise<ProbeRow[]> {
  const result = await db.query<ProbeRow>(
    `WITH due AS (
       SELECT id, tenant_id FROM subscriptions
        WHERE breaker_opened_at IS NOT NULL AND breaker_probe_at <= now() AND enabled AND paused_at IS NULL
        ORDER BY breaker_probe_at LIMIT $1 FOR UPDATE SKIP LOCKED
     ), pick AS (
       SELECT due.id AS subscription_id, due.tenant_id, p.id, p.partition_key, p.priority, p.event_sequence, p.event_received_at FROM due
        CROSS JOIN LATERAL (
          SELECT d.id, COALESCE(d.partition_key, '') AS partition_key, d.priority, d.event_sequence::float8 AS event_sequence,
                 ${epochMs('d.event_received_at')} FROM deliveries d
           WHERE d.tenant_id = due.tenant_id AND d.subscription_id = due.id AND d.status = 'pending'
             AND (d.leased_until IS NULL OR d.leased_until < now())
           ORDER BY d.created_at DESC LIMIT 1) p
     )
     UPDATE subscriptions s SET breaker_probe_id = p.id,
            breaker_probe_at = now() + make_interval(secs => LEAST(3600, GREATEST(60, extract(epoch FROM now() - s.breaker_opened_at) / 4)))
       FROM pick p WHERE s.id = p.subscription_id
     RETURNING p.id, p.tenant_id, p.subscription_id, p.partition_key, p.priority, p.event_sequence, p.event_received_at`,
    [limit],
  );
  return result.rows;
}

/** Makes `deliveryId` the probe of an open breaker instead (an ordered line's in-flight head). */
export async function setProbe(db: Db, subscriptionId: string, deliveryId: string): Promise<void> {
  await db.query('UPDATE subscriptions SET breaker_probe_id = $2 WHERE id = $1 AND breaker_opened_at IS NOT NULL', [subscriptionId, deliveryId]);
}
