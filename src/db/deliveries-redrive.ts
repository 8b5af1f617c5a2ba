/**
 * The redrive sweep's queries: find pending deliveries whose queue message is gone, and mark the ones
 * it handled. They span tenants on purpose (the sweep is the platform's, not a tenant's); each row
 * names its tenant.
 */
import type { Db } from './client';
import { epochMs } from './sql';
import type { Priority } from '../lib/priority';

/** A pending delivery whose queue message is gone; `partition_key` is '' for none. */
export interface StrandedRow {
  id: string;
  tenant_id: string;
  subscription_id: string;
  partition_key: string;
  /** Its event's sequence, which names the tenant's shard holding its ordered line (tenancy/shard-routing.ts). */
  event_sequence: number;
  /** Its lane (src/delivery/lanes.ts): the redrive sends it on the same one. */
  priority: Priority;
  /** Its event's `received_at` (epoch ms), the delivery's partition key: the message sent again carries it (`event_received_at`). */
  event_received_at: number;
}

/**
 * Pending deliveries nobody has touched for `afterSeconds` past their due time and that no consumer
 * holds: their queue message is gone. Of an ordered subscription only the head of each partition's
 * line counts (the others wait their turn, however long). Oldest first; the partial index on pending
 * deliveries keeps this to the pending rows. A line's head is its oldest event by `(received_at,
 * sequence)`, the order the TenantLog keeps the line in.
 */
export async function strandedDeliveries(db: Db, afterSeconds: number, limit: number): Promise<StrandedRow[]> {
  const result = await db.query<StrandedRow>(
    `WITH pending AS (
       SELECT d.id, d.tenant_id, d.subscription_id, COALESCE(d.partition_key, '') AS partition_key, d.event_sequence, d.priority,
              d.event_received_at, d.created_at, d.updated_at, d.next_attempt_at, d.leased_until, s.ordering
         FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id
        -- a paused subscription, or one whose breaker is open, holds its deliveries: resuming or closing sends them
        WHERE d.status = 'pending' AND ((s.paused_at IS NULL AND s.breaker_opened_at IS NULL) OR NOT s.enabled)
     ), candidates AS (
       SELECT * FROM pending WHERE ordering <> 'partition'
       UNION ALL
       (SELECT DISTINCT ON (subscription_id, partition_key) * FROM pending WHERE ordering = 'partition'
         -- a line's order is its events' (received_at, sequence): sequences of different shards do not compare,
         -- and a key moved by a shard-count change has events on several (a move stamps the new shard's after the old's)
         ORDER BY subscription_id, partition_key, event_received_at, event_sequence)
     )
     SELECT id, tenant_id, subscription_id, partition_key, priority, event_sequence::float8 AS event_sequence, ${epochMs('event_received_at')}
       FROM candidates
      WHERE (leased_until IS NULL OR leased_until < now())
        AND GREATEST(updated_at, COALESCE(next_attempt_at, updated_at)) < now() - make_interval(secs => $1)
      ORDER BY created_at LIMIT $2`,
    [afterSeconds, limit],
  );
  return result.rows;
}

/** Marks pending deliveries as just handled (the redrive sweep then leaves them alone for a while). */
export async function touchDeliveries(db: Db, ids: string[]): Promise<void> {
  if (ids.length > 0) await db.query(`UPDATE deliveries SET updated_at = now() WHERE id = ANY($1) AND status = 'pending'`, [ids]);
}

/**
 * Of these stranded deliveries, finishes as `skipped` those whose event Postgres refused and holds in
 * `quarantined_events` (src/durable/store-batch.ts): nothing can be delivered for them, and left
 * pending they would be redriven every sweep. Only a sync attempt's claim (src/db/deliveries-sync.ts)
 * writes a delivery before its event is stored, so only its rows can get here. Returns their ids.
 */
export async function skipQuarantined(db: Db, rows: readonly StrandedRow[]): Promise<Set<string>> {
  if (rows.length === 0) return new Set();
  const result = await db.query<{ id: string }>(
    `UPDATE deliveries d SET status = 'skipped', last_error = 'its event was quarantined: Postgres refused to store it (GET /v1/tenants/{t}/quarantine)',
            finished_at = now(), leased_until = NULL, next_attempt_at = NULL, updated_at = now()
       FROM unnest($1::text[], $2::text[], $3::int8[]) AS r(id, tenant_id, sequence)
       JOIN quarantined_events q ON q.tenant_id = r.tenant_id AND q.sequence = r.sequence
      WHERE d.id = r.id AND d.tenant_id = r.tenant_id AND q.id = d.event_id AND d.status IN ('pending', 'scheduled')
      RETURNING d.id`,
    [rows.map((r) => r.id), rows.map((r) => r.tenant_id), rows.map((r) => r.event_sequence)],
  );
  return new Set(result.rows.map((r) => r.id));
}
