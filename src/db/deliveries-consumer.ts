/**
 * The delivery consumer's queries: claim deliveries (leased for one attempt each), keep the leases of a
 * running batch, read the status of those it could not claim, and record a batch of attempts. Every
 * query is keyed by delivery ids a tenant owns.
 */
import type { Db } from './client';
import type { AttemptView } from './deliveries-view';
import { storableJson } from '../lib/storable';

/** A delivery claimed for one attempt, with everything the attempt needs. */
export interface ClaimedDelivery {
  id: string;
  tenant_id: string;
  subscription_id: string;
  event_id: string;
  partition_key: string | null;
  attempts: number;
  schedule_offset: number;
  event: Record<string, unknown>;
  subscription_enabled: boolean;
  ordering: 'none' | 'partition';
  retry_schedule: number[] | null;
  action_plugin_id: string | null;
  action_type: string;
  action_config: Record<string, unknown>;
  transformer_type: string | null;
  transformer_config: Record<string, unknown> | null;
  transformer_name: string | null;
  sealed_secrets: string[];
}

/**
 * Claims pending deliveries for one attempt each (attempt number + 1, leased for `leaseSeconds`) and
 * loads them in the same round trip. A delivery that is finished, or leased by a concurrent consumer,
 * is not returned: its message is a duplicate.
 */
export async function claimDeliveries(db: Db, ids: string[], leaseSeconds: number): Promise<ClaimedDelivery[]> {
  const result = await db.query<ClaimedDelivery>(
    `WITH claimed AS (
       UPDATE deliveries SET attempts = attempts + 1, leased_until = now() + make_interval(secs => $2), updated_at = now()
        WHERE id = ANY($1) AND status = 'pending' AND (leased_until IS NULL OR leased_until < now())
        RETURNING id, tenant_id, subscription_id, event_id, partition_key, attempts, schedule_offset
     )
     SELECT c.*, e.event, s.enabled AS subscription_enabled, s.ordering, s.retry_schedule, s.action_plugin_id,
            COALESCE(ap.type, s.action_type) AS action_type, COALESCE(ap.config, s.action_config) AS action_config,
            tp.type AS transformer_type, tp.config AS transformer_config, tp.name AS transformer_name,
            COALESCE((SELECT array_agg(k.ciphertext ORDER BY k.created_at DESC) FROM subscription_secrets k
                       WHERE k.subscription_id = s.id AND (k.expires_at IS NULL OR k.expires_at > now())), '{}') AS sealed_secrets
       FROM claimed c
       JOIN events e ON e.tenant_id = c.tenant_id AND e.id = c.event_id
       JOIN subscriptions s ON s.id = c.subscription_id
       LEFT JOIN plugins ap ON ap.id = s.action_plugin_id
       LEFT JOIN plugins tp ON tp.id = s.transformer_plugin_id`,
    [ids, leaseSeconds],
  );
  return result.rows;
}

/** Extends the leases a running consumer batch holds (the attempts take longer than a lease). */
export async function renewLeases(db: Db, ids: string[], leaseSeconds: number): Promise<void> {
  await db.query(
    `UPDATE deliveries SET leased_until = now() + make_interval(secs => $2) WHERE id = ANY($1) AND status = 'pending' AND leased_until IS NOT NULL`,
    [ids, leaseSeconds],
  );
}

/** Status of each delivery, and for a pending one how many seconds of its lease are left (0: none). */
export async function deliveryStatuses(db: Db, ids: string[]): Promise<{ id: string; status: string; lease_left: number }[]> {
  if (ids.length === 0) return [];
  const result = await db.query<{ id: string; status: string; lease_left: number }>(
    `SELECT id, status, GREATEST(0, ceil(extract(epoch FROM leased_until - now())))::int AS lease_left FROM deliveries WHERE id = ANY($1)`,
    [ids],
  );
  return result.rows.map((r) => ({ ...r, lease_left: r.lease_left ?? 0 }));
}

export interface AttemptRecord extends AttemptView {
  tenant_id: string;
  delivery_id: string;
  subscription_id: string;
  /** The delivery's status after this attempt. */
  status: 'pending' | 'delivered' | 'failed' | 'skipped';
  next_attempt_at: string | null;
}

export interface SubscriptionHealth {
  id: string;
  tenant_id: string;
  consecutive_failures: number;
  /** True when this batch pushed it over its failure threshold and disabled it. */
  disabled_now: boolean;
}

/**
 * Records a batch of attempts, updates their deliveries, and keeps each subscription's run of
 * consecutive failures (reset by a success; over the threshold the subscription is disabled): one
 * round trip. `gone` lists subscriptions whose endpoint answered 410 and are disabled outright.
 */
export async function recordAttempts(db: Db, attempts: AttemptRecord[], gone: string[]): Promise<SubscriptionHealth[]> {
  const result = await db.query<SubscriptionHealth>(
    `WITH x AS (
       SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(tenant_id text, delivery_id text, subscription_id text, attempt int,
              started_at timestamptz, latency_ms int, outcome text, status_code int, error text, response_body text,
              status text, next_attempt_at timestamptz)
     ), a AS (
       INSERT INTO delivery_attempts (tenant_id, delivery_id, attempt, started_at, latency_ms, outcome, status_code, error, response_body)
       SELECT tenant_id, delivery_id, attempt, started_at, latency_ms, outcome, status_code, error, response_body FROM x
        -- a delivery whose tenant was deleted while its attempt ran is gone: its record would fail the whole batch
        WHERE EXISTS (SELECT 1 FROM deliveries e WHERE e.id = x.delivery_id)
       ON CONFLICT (delivery_id, attempt) DO NOTHING
     ), d AS (
       UPDATE deliveries d SET status = x.status, last_status = x.status_code, last_error = x.error, next_attempt_at = x.next_attempt_at,
              leased_until = NULL, updated_at = now(), finished_at = CASE WHEN x.status = 'pending' THEN NULL ELSE now() END
         FROM x WHERE d.id = x.delivery_id AND d.status = 'pending'
     ), runs AS (
       SELECT subscription_id,
              bool_or(outcome = 'delivered') AS succeeded,
              count(*) FILTER (WHERE outcome NOT IN ('delivered', 'skipped') AND started_at > COALESCE(
                (SELECT max(y.started_at) FROM x y WHERE y.subscription_id = x.subscription_id AND y.outcome = 'delivered'), '-infinity')) AS failures
         FROM x GROUP BY subscription_id
     ), calc AS (
       SELECT s.id, s.enabled AS was_enabled, s.failure_threshold, s.id = ANY($2) AS gone,
              CASE WHEN r.succeeded THEN 0 ELSE s.consecutive_failures END + r.failures AS failures
         FROM subscriptions s JOIN runs r ON r.subscription_id = s.id
     )
     UPDATE subscriptions s SET
            consecutive_failures = c.failures,
            enabled = s.enabled AND NOT c.gone AND c.failures < c.failure_threshold,
            disabled_reason = CASE
              WHEN s.enabled AND c.gone THEN 'the endpoint answered 410 Gone'
              WHEN s.enabled AND c.failures >= c.failure_threshold THEN 'too many consecutive failed attempts'
              ELSE s.disabled_reason END,
            version = s.version + CASE WHEN s.enabled AND (c.gone OR c.failures >= c.failure_threshold) THEN 1 ELSE 0 END
       FROM calc c WHERE s.id = c.id
     RETURNING s.id, s.tenant_id, s.consecutive_failures, (c.was_enabled AND NOT s.enabled) AS disabled_now`,
    // a receiver's answer may hold NUL, which jsonb refuses: it would fail every tenant's attempts in the batch
    [storableJson(JSON.stringify(attempts)), gone],
  );
  return result.rows;
}
