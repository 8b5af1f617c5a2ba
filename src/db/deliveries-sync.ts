/**
 * Sync mode's queries (src/delivery/sync-actions.ts): the tenant's sync subscriptions for routing, the
 * claim of an event's sync deliveries before the outbox flush has stored the event, and the hold that
 * hands a failed sync attempt to the retry schedule. Every query names the tenant.
 */
import type { Db } from './client';
import type { ClaimedDelivery } from './deliveries-consumer';

/** A sync subscription as routing needs it. */
export interface SyncRoutingRow {
  id: string;
  types: string[];
  filter: unknown;
  ordering: 'none' | 'partition';
  sync_timeout_ms: number;
}

/** The tenant's sync subscriptions and the config version they belong to; null for no such tenant. */
export async function loadSyncRouting(db: Db, tenantId: string): Promise<{ version: number; subscriptions: SyncRoutingRow[] } | null> {
  const result = await db.query<{ config_version: string; subscriptions: SyncRoutingRow[] }>(
    `SELECT t.config_version,
       (SELECT COALESCE(json_agg(json_build_object('id', s.id, 'types', s.types, 'filter', s.filter, 'ordering', s.ordering,
                                                   'sync_timeout_ms', s.sync_timeout_ms) ORDER BY s.id), '[]')
          FROM subscriptions s WHERE s.tenant_id = t.id AND s.enabled AND s.mode = 'sync' AND s.action_type IS DISTINCT FROM 'cli') AS subscriptions
     FROM tenants t WHERE t.id = $1`,
    [tenantId],
  );
  const row = result.rows[0];
  return row ? { version: Number(row.config_version), subscriptions: row.subscriptions } : null;
}

export interface SyncTarget {
  deliveryId: string;
  subscriptionId: string;
  /** Its lane (src/delivery/lanes.ts), as the flush would store it. */
  priority: string;
}

/**
 * Claims an accepted event's sync deliveries for their first attempt, leased for `leaseSeconds`: each
 * row is written now, with the id the outbox flush derives for it (src/delivery/fan-out.ts), so the
 * flush's own insert of it is a no-op and the consumer, finding it leased or finished, does not
 * attempt it again. A row the flush wrote first is claimed if no attempt has begun. Only subscriptions
 * that are still sync, enabled, not paused and whose breaker is closed are claimed; the others are not
 * returned (the normal path delivers them). Everything the attempt needs but the event comes back in
 * the same round trip, as `claimDeliveries` returns it.
 */
export async function claimSync(
  db: Db,
  tenantId: string,
  event: { id: string; sequence: number; partitionKey: string; receivedAt: number },
  targets: readonly SyncTarget[],
  leaseSeconds: number,
): Promise<Omit<ClaimedDelivery, 'event'>[]> {
  const result = await db.query<Omit<ClaimedDelivery, 'event'>>(
    `WITH wanted AS (
       SELECT t.delivery_id, s.id AS subscription_id, t.priority
         FROM unnest($5::text[], $6::text[], $8::text[]) AS t(delivery_id, subscription_id, priority)
         JOIN subscriptions s ON s.id = t.subscription_id AND s.tenant_id = $1
        WHERE s.enabled AND s.mode = 'sync' AND s.paused_at IS NULL AND s.breaker_opened_at IS NULL
     ), claimed AS (
       INSERT INTO deliveries AS d (id, tenant_id, subscription_id, event_id, event_sequence, partition_key, priority, attempts, leased_until, event_received_at)
       SELECT w.delivery_id, $1, w.subscription_id, $2, $3, $4, w.priority, 1, now() + make_interval(secs => $7), to_timestamp($9 / 1000.0) FROM wanted w
        -- in id order, as the outbox flush inserts them (db/events.ts): the same rows in two orders deadlock
        ORDER BY w.delivery_id
       ON CONFLICT (id, event_received_at) DO UPDATE SET attempts = d.attempts + 1, leased_until = EXCLUDED.leased_until, updated_at = now()
         WHERE d.status = 'pending' AND d.attempts = 0 AND (d.leased_until IS NULL OR d.leased_until < now())
       RETURNING d.id, d.tenant_id, d.subscription_id, d.event_id, d.partition_key, d.attempts, d.schedule_offset
     )
     SELECT c.*, s.enabled AS subscription_enabled, s.ordering, s.retry_schedule, s.emit_succeeded, s.action_plugin_id,
            COALESCE(ap.type, s.action_type) AS action_type, COALESCE(ap.config, s.action_config) AS action_config,
            tp.type AS transformer_type, tp.config AS transformer_config, tp.name AS transformer_name,
            COALESCE((SELECT array_agg(k.ciphertext ORDER BY k.created_at DESC) FROM subscription_secrets k
                       WHERE k.subscription_id = s.id AND (k.expires_at IS NULL OR k.expires_at > now())), '{}') AS sealed_secrets
       FROM claimed c
       JOIN subscriptions s ON s.id = c.subscription_id
       LEFT JOIN plugins ap ON ap.id = s.action_plugin_id
       LEFT JOIN plugins tp ON tp.id = s.transformer_plugin_id`,
    [
      tenantId,
      event.id,
      event.sequence,
      event.partitionKey,
      targets.map((t) => t.deliveryId),
      targets.map((t) => t.subscriptionId),
      leaseSeconds,
      targets.map((t) => t.priority),
      event.receivedAt,
    ],
  );
  return result.rows;
}

/**
 * Keeps failed sync deliveries leased until their next attempt is due, so the flush's queue message
 * (which comes at once) is retried by the consumer after that wait instead of attempting early.
 */
export async function holdUntilRetry(db: Db, tenantId: string, holds: readonly { id: string; until: string }[]): Promise<void> {
  if (holds.length === 0) return;
  await db.query(
    `UPDATE deliveries d SET leased_until = h.until FROM unnest($2::text[], $3::timestamptz[]) AS h(id, until)
      WHERE d.tenant_id = $1 AND d.id = h.id AND d.status = 'pending'`,
    [tenantId, holds.map((h) => h.id), holds.map((h) => h.until)],
  );
}
