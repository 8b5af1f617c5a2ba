/**
 * The schedule sweep's query (src/delivery/schedule-sweep.ts): turn due scheduled deliveries into
 * pending ones. It spans tenants on purpose (the sweep is the platform's); each row names its tenant.
 */
import type { Db } from './client';
import type { StrandedRow } from './deliveries-redrive';
import { epochMs } from './sql';

/** A scheduled delivery just made pending (the redrive's row shape); `partition_key` is '' for none. */
export interface DueRow extends StrandedRow {
  /** Its subscription is paused or its breaker open: the delivery waits, pending, for the resume or the close. */
  held: boolean;
}

/**
 * Makes due scheduled deliveries pending and returns them, earliest due first. A short wait's delayed
 * queue message claims its delivery when due, so what is still scheduled past its time here is a long
 * wait (never sent) or a message that is late or lost; sending it again is harmless (the consumer's
 * claim runs one attempt at a time). Rows of deleted subscriptions are left alone, as the redrive
 * leaves their pending ones.
 */
export async function releaseDue(db: Db, limit: number): Promise<DueRow[]> {
  const result = await db.query<DueRow>(
    `WITH due AS (
       SELECT d.id FROM deliveries d
        WHERE d.status = 'scheduled' AND d.scheduled_for <= now()
          AND EXISTS (SELECT 1 FROM subscriptions s WHERE s.id = d.subscription_id)
        ORDER BY d.scheduled_for LIMIT $1 FOR UPDATE SKIP LOCKED
     )
     UPDATE deliveries d SET status = 'pending', next_attempt_at = d.scheduled_for, updated_at = now()
       FROM due, subscriptions s
      WHERE d.id = due.id AND s.id = d.subscription_id AND d.status = 'scheduled'
     RETURNING d.id, d.tenant_id, d.subscription_id, COALESCE(d.partition_key, '') AS partition_key, d.priority, d.event_sequence::float8 AS event_sequence,
               ${epochMs('d.event_received_at')}, (s.enabled AND (s.paused_at IS NOT NULL OR s.breaker_opened_at IS NOT NULL)) AS held`,
    [limit],
  );
  return result.rows;
}
