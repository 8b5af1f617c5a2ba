/** Deliveries and their attempts. Every query names the tenant, or is keyed by ids a tenant owns. */
import type { Db } from './client';
import { iso, tenantWhere } from './sql';

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

/** Current status of the deliveries among `ids` that exist. */
export interface StrandedRow {
  id: string;
  tenant_id: string;
  subscription_id: string;
  partition_key: string;
}

/**
 * Pending deliveries nobody has touched for `afterSeconds` past their due time and that no consumer
 * holds: their queue message is gone. Of an ordered subscription only the head of each partition's
 * line counts (the others wait their turn, however long). Oldest first; the partial index on pending
 * deliveries keeps this to the pending rows.
 */
export async function strandedDeliveries(db: Db, afterSeconds: number, limit: number): Promise<StrandedRow[]> {
  const result = await db.query<StrandedRow>(
    `WITH pending AS (
       SELECT d.id, d.tenant_id, d.subscription_id, COALESCE(d.partition_key, '') AS partition_key, d.event_sequence,
              d.created_at, d.updated_at, d.next_attempt_at, d.leased_until, s.ordering
         FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id
        WHERE d.status = 'pending'
     ), candidates AS (
       SELECT * FROM pending WHERE ordering <> 'partition'
       UNION ALL
       (SELECT DISTINCT ON (subscription_id, partition_key) * FROM pending WHERE ordering = 'partition'
         ORDER BY subscription_id, partition_key, event_sequence)
     )
     SELECT id, tenant_id, subscription_id, partition_key FROM candidates
      WHERE (leased_until IS NULL OR leased_until < now())
        AND GREATEST(updated_at, COALESCE(next_attempt_at, updated_at)) < now() - make_interval(secs => $1)
      ORDER BY created_at LIMIT $2`,
    [afterSeconds, limit],
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

/** Marks pending deliveries as just handled (the redrive sweep then leaves them alone for a while). */
export async function touchDeliveries(db: Db, ids: string[]): Promise<void> {
  if (ids.length > 0) await db.query(`UPDATE deliveries SET updated_at = now() WHERE id = ANY($1) AND status = 'pending'`, [ids]);
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
    [JSON.stringify(attempts), gone],
  );
  return result.rows;
}

/** New deliveries of a replay (ids are derived from the replay, so a repeated step inserts nothing twice). */
export async function insertReplayDeliveries(
  db: Db,
  tenantId: string,
  replayId: string,
  deliveries: { id: string; subscriptionId: string; eventId: string; sequence: number; partitionKey: string }[],
): Promise<number> {
  const result = await db.query(
    `INSERT INTO deliveries (id, tenant_id, subscription_id, event_id, event_sequence, partition_key, replay_id)
     SELECT x."id", $1, x."subscriptionId", x."eventId", x."sequence", x."partitionKey", $2
       FROM jsonb_to_recordset($3::jsonb) AS x("id" text, "subscriptionId" text, "eventId" text, "sequence" bigint, "partitionKey" text)
     ON CONFLICT (id) DO NOTHING`,
    [tenantId, replayId, JSON.stringify(deliveries)],
  );
  return result.rowCount ?? 0;
}

export interface DeliveryView {
  id: string;
  subscription_id: string;
  event_id: string;
  event_sequence: number;
  status: 'pending' | 'delivered' | 'failed' | 'skipped';
  attempts: number;
  last_status: number | null;
  last_error: string | null;
  next_attempt_at: string | null;
  replay_id: string | null;
  created_at: string;
  updated_at: string;
  finished_at: string | null;
}

const VIEW = `id, subscription_id, event_id, event_sequence::int8 AS event_sequence, status, attempts, last_status, last_error,
  ${iso('next_attempt_at')}, replay_id, ${iso('created_at')}, ${iso('updated_at')}, ${iso('finished_at')}`;

type RawView = Omit<DeliveryView, 'event_sequence'> & { event_sequence: string };
const toView = (r: RawView): DeliveryView => ({ ...r, event_sequence: Number(r.event_sequence) });

export interface DeliveryFilter {
  status?: string;
  subscriptionId?: string;
  eventId?: string;
  after?: string;
  before?: string;
  /** Continue after this delivery id (ids sort by creation only within a replay, so paging is by id). */
  afterId?: string;
  limit: number;
}

export async function listDeliveries(db: Db, tenantId: string, f: DeliveryFilter): Promise<DeliveryView[]> {
  const where = tenantWhere(tenantId);
  if (f.status) where.add('status = ?', f.status);
  if (f.subscriptionId) where.add('subscription_id = ?', f.subscriptionId);
  if (f.eventId) where.add('event_id = ?', f.eventId);
  if (f.after) where.add('created_at >= ?', f.after);
  if (f.before) where.add('created_at < ?', f.before);
  if (f.afterId) where.add('id > ?', f.afterId);
  const limit = where.last(f.limit);
  const result = await db.query<RawView>(`SELECT ${VIEW} FROM deliveries WHERE ${where.sql} ORDER BY id LIMIT ${limit}`, where.params);
  return result.rows.map(toView);
}

export interface AttemptView {
  attempt: number;
  started_at: string;
  latency_ms: number;
  outcome: string;
  status_code: number | null;
  error: string | null;
  response_body: string | null;
}

export async function findDelivery(db: Db, tenantId: string, id: string): Promise<(DeliveryView & { partition_key: string | null; attempt_log: AttemptView[] }) | null> {
  const result = await db.query<RawView & { partition_key: string | null; attempt_log: AttemptView[] }>(
    `SELECT ${VIEW}, partition_key,
       (SELECT COALESCE(json_agg(json_build_object('attempt', a.attempt, 'started_at', a.started_at, 'latency_ms', a.latency_ms, 'outcome', a.outcome,
                 'status_code', a.status_code, 'error', a.error, 'response_body', a.response_body) ORDER BY a.attempt), '[]')
          FROM delivery_attempts a WHERE a.delivery_id = d.id) AS attempt_log
       FROM deliveries d WHERE tenant_id = $1 AND id = $2`,
    [tenantId, id],
  );
  const row = result.rows[0];
  return row ? { ...toView(row), partition_key: row.partition_key, attempt_log: row.attempt_log } : null;
}

/** Puts a finished delivery back to pending with a fresh schedule; null when it is not finished. */
export async function reopenDelivery(db: Db, tenantId: string, id: string): Promise<{ id: string; subscription_id: string } | null> {
  const result = await db.query<{ id: string; subscription_id: string }>(
    `UPDATE deliveries SET status = 'pending', schedule_offset = attempts, finished_at = NULL, next_attempt_at = now(), leased_until = NULL, updated_at = now()
      WHERE tenant_id = $1 AND id = $2 AND status <> 'pending' RETURNING id, subscription_id`,
    [tenantId, id],
  );
  return result.rows[0] ?? null;
}
