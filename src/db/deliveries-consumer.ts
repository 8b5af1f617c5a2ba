/**
 * The delivery consumer's queries: claim deliveries (leased for one attempt each), keep the leases of a
 * running batch, read the status of those it could not claim, and record a batch of attempts. Every
 * query is keyed by delivery ids a tenant owns.
 */
import type { Db } from './client';
import { storableJson } from '../lib/storable';
import { iso } from './sql';

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
  /** A successful attempt emits `switchyard.delivery.succeeded` (src/delivery/settle.ts). */
  emit_succeeded?: boolean;
  action_plugin_id: string | null;
  action_type: string;
  action_config: Record<string, unknown>;
  transformer_type: string | null;
  transformer_config: Record<string, unknown> | null;
  transformer_name: string | null;
  sealed_secrets: string[];
  /** Its event's `received_at` (ISO 8601), the partition key of `deliveries`: recording its attempt reads one partition. */
  event_received_at?: string;
}

/** A span of `received_at` that holds a batch's events, or null when one is unknown. */
export type ReceivedSpan = { from: string; to: string } | null;

/**
 * The span of these `received_at`s (epoch ms or ISO 8601), a second wider each way. `deliveries`,
 * `delivery_attempts` and `events` are partitioned by it: a statement bounded by constants is planned
 * over the partitions they reach alone. The consumer opens a fresh connection per batch, whose
 * backend has no catalog cached, and planning its claim over every day's partitions cost ~20 ms.
 */
export function receivedSpan(times: readonly (number | string | undefined)[]): ReceivedSpan {
  if (times.length === 0 || times.some((t) => t === undefined)) return null;
  const ms = times.map((t) => new Date(t!).getTime());
  if (ms.some(Number.isNaN)) return null;
  return { from: new Date(Math.min(...ms) - 1000).toISOString(), to: new Date(Math.max(...ms) + 1000).toISOString() };
}

/**
 * Claims pending deliveries for one attempt each (attempt number + 1, leased for `leaseSeconds`) and
 * loads them in the same round trip. A delivery that is finished, or leased by a concurrent consumer,
 * is not returned: its message is a duplicate. Nor is one whose subscription is paused: it is held
 * (see {@link deliveryStatuses}).
 */
export async function claimDeliveries(db: Db, ids: string[], leaseSeconds: number, span: ReceivedSpan = null): Promise<ClaimedDelivery[]> {
  // bounded by the batch's span (receivedSpan), the plan reads the partitions it reaches alone
  const deliveriesIn = span ? 'AND event_received_at >= $3::timestamptz AND event_received_at < $4::timestamptz' : '';
  const eventsIn = span ? 'AND e.received_at >= $3::timestamptz AND e.received_at < $4::timestamptz' : '';
  const result = await db.query<ClaimedDelivery>(
    `WITH claimed AS (
       UPDATE deliveries SET status = 'pending', attempts = attempts + 1, leased_until = now() + make_interval(secs => $2), updated_at = now()
        -- a scheduled delivery is claimed once it is due (src/delivery/schedule.ts)
        WHERE id = ANY($1) ${deliveriesIn} AND (status = 'pending' OR (status = 'scheduled' AND scheduled_for <= now())) AND (leased_until IS NULL OR leased_until < now())
          -- a paused subscription's deliveries are held, and an open breaker's but for its probe: no attempt, no count
          AND NOT EXISTS (SELECT 1 FROM subscriptions p WHERE p.id = deliveries.subscription_id AND p.enabled AND (p.paused_at IS NOT NULL OR (p.breaker_opened_at IS NOT NULL AND p.breaker_probe_id IS DISTINCT FROM deliveries.id)))
        RETURNING id, tenant_id, subscription_id, event_id, partition_key, attempts, schedule_offset, event_received_at
     )
     SELECT c.id, c.tenant_id, c.subscription_id, c.event_id, c.partition_key, c.attempts, c.schedule_offset,
            ${iso('c.event_received_at', 'event_received_at')}, e.event, s.enabled AS subscription_enabled, s.ordering, s.retry_schedule, s.emit_succeeded, s.action_plugin_id,
            COALESCE(ap.type, s.action_type) AS action_type, COALESCE(ap.config, s.action_config) AS action_config,
            tp.type AS transformer_type, tp.config AS transformer_config, tp.name AS transformer_name,
            COALESCE((SELECT array_agg(k.ciphertext ORDER BY k.created_at DESC) FROM subscription_secrets k
                       WHERE k.subscription_id = s.id AND (k.expires_at IS NULL OR k.expires_at > now())), '{}') AS sealed_secrets
       FROM claimed c
       JOIN events e ON e.tenant_id = c.tenant_id AND e.id = c.event_id ${eventsIn}
       JOIN subscriptions s ON s.id = c.subscription_id
       LEFT JOIN plugins ap ON ap.id = s.action_plugin_id
       LEFT JOIN plugins tp ON tp.id = s.transformer_plugin_id`,
    span ? [ids, leaseSeconds, span.from, span.to] : [ids, leaseSeconds],
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

export interface DeliveryStatus {
  id: string;
  status: string;
  /** For a pending delivery: seconds of its lease left (0: none). */
  lease_left: number;
  /** Pending or scheduled, and its subscription is paused or its breaker open (and it is not the probe), and not disabled. */
  held: boolean;
  /** For a scheduled delivery: seconds until it is due (0: due). */
  due_in: number;
}

/** Status of each delivery, and whether a pending one is leased or held by a pause. */
export async function deliveryStatuses(db: Db, ids: string[]): Promise<DeliveryStatus[]> {
  if (ids.length === 0) return [];
  const result = await db.query<DeliveryStatus>(
    `SELECT d.id, d.status, GREATEST(0, ceil(extract(epoch FROM d.leased_until - now())))::int AS lease_left,
            GREATEST(0, ceil(extract(epoch FROM d.scheduled_for - now())))::int AS due_in,
            (d.status IN ('pending', 'scheduled') AND s.enabled AND (s.paused_at IS NOT NULL OR (s.breaker_opened_at IS NOT NULL AND s.breaker_probe_id IS DISTINCT FROM d.id))) IS TRUE AS held
       FROM deliveries d LEFT JOIN subscriptions s ON s.id = d.subscription_id WHERE d.id = ANY($1)`,
    [ids],
  );
  return result.rows.map((r) => ({ ...r, lease_left: r.lease_left ?? 0, due_in: r.due_in ?? 0 }));
}

export interface AttemptRecord {
  attempt: number;
  started_at: string;
  latency_ms: number;
  outcome: string;
  status_code: number | null;
  error: string | null;
  response_body: string | null;
  /** The request as sent and the answer's head (src/delivery/exchange.ts); absent when nothing was sent. */
  request_method?: string | null;
  request_url?: string | null;
  request_headers?: Record<string, string> | null;
  request_body?: string | null;
  request_body_bytes?: number | null;
  request_body_truncated?: boolean;
  response_headers?: Record<string, string> | null;
  response_body_truncated?: boolean;
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
  /** True when this batch disabled it: a 410 Gone, or a failure after its breaker stayed open too long. */
  disabled_now: boolean;
  /** True when this batch took it over its failure threshold and opened its breaker. */
  opened_now?: boolean;
  /** True when a success in this batch closed its open breaker. */
  recovered_now?: boolean;
}

/**
 * Records a batch of attempts, updates their deliveries, and keeps each subscription's run of
 * consecutive failures (reset by a success that started after the last failure on record, since
 * batches land in the order their consumers finish), the times of its last success and failure (the health
 * view's) and its circuit breaker (src/delivery/breaker.ts): one round trip. At `failure_threshold`
 * consecutive failures the breaker opens; a success closes it; a failure while open schedules the
 * next probe, later the longer it has been open, or disables the subscription once it has been open
 * for `breaker_disable_after_seconds`. `gone` lists subscriptions whose endpoint answered 410 and are
 * disabled outright.
 */
export async function recordAttempts(db: Db, attempts: AttemptRecord[], gone: string[], span: ReceivedSpan = null): Promise<SubscriptionHealth[]> {
  // bounded by the deliveries' span (receivedSpan), the plan reads the partitions it reaches alone
  const deliveriesIn = (alias: string) => (span ? `AND ${alias}.event_received_at >= $3::timestamptz AND ${alias}.event_received_at < $4::timestamptz` : '');
  const result = await db.query<SubscriptionHealth>(
    `WITH x AS (
       SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(tenant_id text, delivery_id text, subscription_id text, attempt int,
              started_at timestamptz, latency_ms int, outcome text, status_code int, error text, response_body text,
              request_method text, request_url text, request_headers jsonb, request_body text, request_body_bytes int,
              request_body_truncated boolean, response_headers jsonb, response_body_truncated boolean,
              status text, next_attempt_at timestamptz)
     ), a AS (
       INSERT INTO delivery_attempts (tenant_id, delivery_id, subscription_id, attempt, started_at, latency_ms, outcome, status_code, error, response_body,
              request_method, request_url, request_headers, request_body, request_body_bytes, request_body_truncated, response_headers, response_body_truncated,
              event_received_at)
       SELECT x.tenant_id, x.delivery_id, x.subscription_id, x.attempt, x.started_at, x.latency_ms, x.outcome, x.status_code, x.error, x.response_body,
              x.request_method, x.request_url, x.request_headers, x.request_body, x.request_body_bytes, COALESCE(x.request_body_truncated, false),
              x.response_headers, COALESCE(x.response_body_truncated, false), e.event_received_at
         -- a delivery whose tenant was deleted while its attempt ran is gone: its record would fail the whole batch
         FROM x JOIN deliveries e ON e.id = x.delivery_id ${deliveriesIn('e')}
       ON CONFLICT (delivery_id, attempt, event_received_at) DO NOTHING
     ), d AS (
       UPDATE deliveries d SET status = x.status, last_status = x.status_code, last_error = x.error, next_attempt_at = x.next_attempt_at,
              leased_until = NULL, updated_at = now(), finished_at = CASE WHEN x.status = 'pending' THEN NULL ELSE now() END
         FROM x WHERE d.id = x.delivery_id AND d.status = 'pending' ${deliveriesIn('d')}
     ), runs AS (
       SELECT subscription_id,
              bool_or(outcome = 'delivered') AS succeeded,
              max(started_at) FILTER (WHERE outcome = 'delivered') AS last_success,
              max(started_at) FILTER (WHERE outcome NOT IN ('delivered', 'skipped')) AS last_failure,
              count(*) FILTER (WHERE outcome NOT IN ('delivered', 'skipped') AND started_at > COALESCE(
                (SELECT max(y.started_at) FROM x y WHERE y.subscription_id = x.subscription_id AND y.outcome = 'delivered'), '-infinity')) AS failures
         FROM x GROUP BY subscription_id
     ), fresh AS (
       -- batches are recorded as their consumers finish, not in the order their attempts ran: a success
       -- ends the run of failures only when it started after the last failure already recorded
       SELECT r.*, s.consecutive_failures AS before, s.id = ANY($2) AS gone, s.enabled AS was_enabled, s.breaker_opened_at AS opened_at,
              s.failure_threshold, s.breaker_disable_after_seconds,
              r.succeeded AND r.last_success > COALESCE(s.last_failure_at, '-infinity') AS resets
         FROM subscriptions s JOIN runs r ON r.subscription_id = s.id
     ), calc AS (
       SELECT f.subscription_id AS id, f.was_enabled, f.gone, f.resets AS succeeded, f.last_success, f.last_failure, f.opened_at,
              CASE WHEN f.resets THEN 0 ELSE f.before END + f.failures AS failures,
              -- the batch ends in a failure
              f.failures > 0 AS failing,
              f.opened_at IS NULL AND f.was_enabled AND CASE WHEN f.resets THEN 0 ELSE f.before END + f.failures >= f.failure_threshold AS opens,
              f.opened_at IS NOT NULL AND f.failures > 0 AND f.opened_at < now() - make_interval(secs => f.breaker_disable_after_seconds) AS expired
         FROM fresh f
     ), next AS (
       SELECT c.*, c.opened_at IS NOT NULL AND c.succeeded AND NOT c.failing AS closes, c.gone OR c.expired AS disables FROM calc c
     )
     UPDATE subscriptions s SET
            consecutive_failures = c.failures,
            last_success_at = GREATEST(s.last_success_at, c.last_success),
            last_failure_at = GREATEST(s.last_failure_at, c.last_failure),
            enabled = s.enabled AND NOT c.disables,
            disabled_reason = CASE
              WHEN s.enabled AND c.gone THEN 'the endpoint answered 410 Gone'
              WHEN s.enabled AND c.expired THEN 'the endpoint kept failing while its circuit breaker stayed open'
              ELSE s.disabled_reason END,
            breaker_opened_at = CASE WHEN c.closes OR c.disables THEN NULL WHEN c.opens THEN now() ELSE s.breaker_opened_at END,
            breaker_probe_at = CASE
              WHEN c.closes OR c.disables THEN NULL
              WHEN c.opens THEN now() + interval '60 seconds'
              WHEN c.opened_at IS NOT NULL AND c.failing
                THEN now() + make_interval(secs => LEAST(3600, GREATEST(60, extract(epoch FROM now() - c.opened_at) / 4)))
              ELSE s.breaker_probe_at END,
            breaker_probe_id = CASE WHEN c.opened_at IS NOT NULL OR c.disables THEN NULL ELSE s.breaker_probe_id END,
            version = s.version + CASE WHEN s.enabled AND c.disables THEN 1 ELSE 0 END
       FROM next c WHERE s.id = c.id
     RETURNING s.id, s.tenant_id, s.consecutive_failures, (c.was_enabled AND NOT s.enabled) AS disabled_now,
               (c.opens AND NOT c.disables) AS opened_now, (c.closes AND NOT c.disables) AS recovered_now`,
    // a receiver's answer may hold NUL, which jsonb refuses: it would fail every tenant's attempts in the batch
    span ? [storableJson(JSON.stringify(attempts)), gone, span.from, span.to] : [storableJson(JSON.stringify(attempts)), gone],
  );
  return result.rows;
}
