/** Subscriptions and their signing secrets. Every query names the tenant. */
import type { Db } from './client';
import type { PlainSecretProbe } from './plugins';
import { iso } from './sql';
import type { Priority } from '../lib/priority';

export interface SubscriptionRow {
  id: string;
  tenant_id: string;
  name: string | null;
  types: string[];
  filter: unknown;
  action_plugin_id: string | null;
  action_type: string | null;
  action_config: Record<string, unknown> | null;
  transformer_plugin_id: string | null;
  ordering: 'none' | 'partition';
  /** Default lane for events without a `priority` of their own (src/delivery/lanes.ts); null: normal. */
  priority: Priority | null;
  retry_schedule: number[] | null;
  /** Execution mode (src/delivery/sync-actions.ts): `sync` runs the action inside the ingest request. */
  mode: SubscriptionMode;
  sync_timeout_ms: number;
  /** Each delivery waits at least this long after the event was received (src/delivery/schedule.ts). */
  delay_seconds: number;
  /** A successful attempt emits `switchyard.delivery.succeeded`. */
  emit_succeeded: boolean;
  enabled: boolean;
  disabled_reason: string | null;
  /** Derived: `disabled` when not enabled, else `paused` while paused, else `active`. */
  status: SubscriptionStatus;
  paused_at: string | null;
  /** Circuit breaker (src/delivery/breaker.ts): open since, next probe, the probe in flight. */
  breaker_opened_at: string | null;
  breaker_probe_at: string | null;
  breaker_probe_id: string | null;
  breaker_disable_after_seconds: number;
  failure_threshold: number;
  consecutive_failures: number;
  version: number;
  created_at: string;
  updated_at: string;
}

export const SUBSCRIPTION_STATUSES = ['active', 'paused', 'disabled'] as const;
export type SubscriptionStatus = (typeof SUBSCRIPTION_STATUSES)[number];
export const SUBSCRIPTION_MODES = ['async', 'sync'] as const;
export type SubscriptionMode = (typeof SUBSCRIPTION_MODES)[number];

const STATUS = `CASE WHEN NOT enabled THEN 'disabled' WHEN paused_at IS NOT NULL THEN 'paused' ELSE 'active' END`;
const COLUMNS = `id, tenant_id, name, types, filter, action_plugin_id, action_type, action_config, transformer_plugin_id, ordering, priority,
  retry_schedule, mode, sync_timeout_ms, delay_seconds, emit_succeeded, enabled, disabled_reason, ${STATUS} AS status, ${iso('paused_at')},
  ${iso('breaker_opened_at')}, ${iso('breaker_probe_at')}, breaker_probe_id, breaker_disable_after_seconds, failure_threshold, consecutive_failures, version, ${iso('created_at')}, ${iso('updated_at')}`;

export interface SubscriptionFields {
  name: string | null;
  types: string[];
  filter: unknown;
  actionPluginId: string | null;
  actionType: string | null;
  actionConfig: unknown;
  transformerPluginId: string | null;
  ordering: 'none' | 'partition';
  retrySchedule: number[] | null;
  enabled: boolean;
  /** Held: deliveries are planned but not attempted until it is false again. Ignored while not enabled. */
  paused: boolean;
  failureThreshold: number;
  /** How long a circuit breaker may stay open before a failed probe disables the subscription. */
  breakerDisableAfterSeconds: number;
  /** Execution mode, its timeout, the first attempt's delay, the succeeded event; absent: the column defaults. */
  mode?: SubscriptionMode;
  syncTimeoutMs?: number;
  delaySeconds?: number;
  emitSucceeded?: boolean;
  /** Default lane for events without a `priority`; null or absent: normal. */
  priority?: Priority | null;
}

export async function insertSubscription(
  db: Db,
  id: string,
  tenantId: string,
  f: SubscriptionFields,
  sealedSecret: { id: string; ciphertext: string },
): Promise<SubscriptionRow> {
  const result = await db.query<SubscriptionRow>(
    `WITH s AS (
       INSERT INTO subscriptions (id, tenant_id, name, types, filter, action_plugin_id, action_type, action_config, transformer_plugin_id,
                                  ordering, retry_schedule, enabled, failure_threshold, paused_at, breaker_disable_after_seconds, priority,
                                  mode, sync_timeout_ms, delay_seconds, emit_succeeded)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, CASE WHEN $16 THEN now() END, $17, $18, $19, $20, $21, $22) RETURNING *
     ), k AS (
       INSERT INTO subscription_secrets (id, tenant_id, subscription_id, ciphertext) VALUES ($14, $2, $1, $15)
     )
     SELECT ${COLUMNS} FROM s`,
    [
      id,
      tenantId,
      f.name,
      f.types,
      f.filter === undefined ? null : JSON.stringify(f.filter),
      f.actionPluginId,
      f.actionType,
      f.actionConfig === null ? null : JSON.stringify(f.actionConfig),
      f.transformerPluginId,
      f.ordering,
      f.retrySchedule,
      f.enabled,
      f.failureThreshold,
      sealedSecret.id,
      sealedSecret.ciphertext,
      f.enabled && f.paused,
      f.breakerDisableAfterSeconds,
      f.priority ?? null,
      f.mode ?? 'async',
      f.syncTimeoutMs ?? 2000,
      f.delaySeconds ?? 0,
      f.emitSucceeded ?? false,
    ],
  );
  return result.rows[0]!;
}

export async function findSubscription(db: Db, tenantId: string, id: string): Promise<SubscriptionRow | null> {
  const result = await db.query<SubscriptionRow>(`SELECT ${COLUMNS} FROM subscriptions WHERE tenant_id = $1 AND id = $2`, [tenantId, id]);
  return result.rows[0] ?? null;
}

export async function listSubscriptions(db: Db, tenantId: string, options: { afterId?: string; limit: number }): Promise<SubscriptionRow[]> {
  const result = await db.query<SubscriptionRow>(
    `SELECT ${COLUMNS} FROM subscriptions WHERE tenant_id = $1 AND ($2::text IS NULL OR id > $2) ORDER BY id LIMIT $3`,
    [tenantId, options.afterId ?? null, options.limit],
  );
  return result.rows;
}

/**
 * Replaces the given fields when `expectedVersion` matches (or is not given); null when nothing matched.
 * `previous_status` is the status this update replaced (the row is locked first, so two concurrent
 * updates each see what the other left).
 */
export async function updateSubscription(
  db: Db,
  tenantId: string,
  id: string,
  f: Partial<SubscriptionFields>,
  expectedVersion?: number,
): Promise<(SubscriptionRow & { previous_status: SubscriptionStatus }) | null> {
  const sets: string[] = [];
  const params: unknown[] = [tenantId, id];
  const set = (column: string, value: unknown) => {
    params.push(value);
    sets.push(`${column} = $${params.length}`);
  };
  if (f.name !== undefined) set('name', f.name);
  if (f.types !== undefined) set('types', f.types);
  if (f.filter !== undefined) set('filter', f.filter === null ? null : JSON.stringify(f.filter));
  if (f.actionPluginId !== undefined || f.actionType !== undefined) {
    set('action_plugin_id', f.actionPluginId ?? null);
    set('action_type', f.actionType ?? null);
    set('action_config', f.actionConfig == null ? null : JSON.stringify(f.actionConfig));
  }
  if (f.transformerPluginId !== undefined) set('transformer_plugin_id', f.transformerPluginId);
  if (f.ordering !== undefined) set('ordering', f.ordering);
  if (f.priority !== undefined) set('priority', f.priority);
  if (f.retrySchedule !== undefined) set('retry_schedule', f.retrySchedule);
  if (f.mode !== undefined) set('mode', f.mode);
  if (f.syncTimeoutMs !== undefined) set('sync_timeout_ms', f.syncTimeoutMs);
  if (f.delaySeconds !== undefined) set('delay_seconds', f.delaySeconds);
  if (f.emitSucceeded !== undefined) set('emit_succeeded', f.emitSucceeded);
  if (f.failureThreshold !== undefined) set('failure_threshold', f.failureThreshold);
  if (f.breakerDisableAfterSeconds !== undefined) set('breaker_disable_after_seconds', f.breakerDisableAfterSeconds);
  if (f.enabled !== undefined) {
    set('enabled', f.enabled);
    // re-enabling starts the endpoint's failure count afresh
    if (f.enabled) sets.push('disabled_reason = NULL', 'consecutive_failures = 0');
    // a disabled subscription has no breaker: re-enabled, it starts closed
    else sets.push('breaker_opened_at = NULL', 'breaker_probe_at = NULL', 'breaker_probe_id = NULL');
  }
  // a pause keeps the time it began; disabling ends it (disabled wins over paused)
  if (f.paused !== undefined || f.enabled === false) sets.push(`paused_at = ${f.paused && f.enabled !== false ? 'COALESCE(paused_at, now())' : 'NULL'}`);
  params.push(expectedVersion ?? null);
  const result = await db.query<SubscriptionRow & { previous_status: SubscriptionStatus }>(
    `WITH old AS (SELECT id AS old_id, ${STATUS} AS previous_status FROM subscriptions WHERE tenant_id = $1 AND id = $2 FOR UPDATE)
     UPDATE subscriptions SET ${[...sets, 'version = version + 1', 'updated_at = now()'].join(', ')} FROM old
      WHERE id = old.old_id AND ($${params.length}::int IS NULL OR version = $${params.length}) RETURNING ${COLUMNS}, old.previous_status`,
    params,
  );
  return result.rows[0] ?? null;
}

export async function deleteSubscription(db: Db, tenantId: string, id: string): Promise<boolean> {
  const result = await db.query('DELETE FROM subscriptions WHERE tenant_id = $1 AND id = $2', [tenantId, id]);
  return (result.rowCount ?? 0) > 0;
}

/**
 * What the TenantLog (and a replay) needs to fan events out: enabled subscriptions and the config
 * version they belong to. Listeners (`action_type = 'cli'`) are left out: `switchyard listen` forwards
 * their events itself and reports the attempts, so no delivery is ever planned or queued for them.
 */
export interface RoutingRow {
  id: string;
  types: string[];
  filter: unknown;
  ordering: 'none' | 'partition';
  priority: Priority | null;
  /** The subscription's `delay_seconds` (src/delivery/schedule.ts); absent in rows cached before it: 0. */
  delay_seconds?: number;
}

export async function loadRouting(db: Db, tenantId: string): Promise<{ version: number; subscriptions: RoutingRow[] }> {
  const result = await db.query<{ config_version: string; subscriptions: RoutingRow[] }>(
    `SELECT t.config_version,
       (SELECT COALESCE(json_agg(json_build_object('id', s.id, 'types', s.types, 'filter', s.filter, 'ordering', s.ordering, 'priority', s.priority,
                                        'delay_seconds', s.delay_seconds) ORDER BY s.id), '[]')
          FROM subscriptions s WHERE s.tenant_id = t.id AND s.enabled AND s.action_type IS DISTINCT FROM 'cli') AS subscriptions
     FROM tenants t WHERE t.id = $1`,
    [tenantId],
  );
  const row = result.rows[0];
  return { version: Number(row?.config_version ?? 0), subscriptions: row?.subscriptions ?? [] };
}

/** Subscriptions (of any tenant) whose inline action config still holds a secret in plain text. */
export async function subscriptionsWithPlainSecrets(
  db: Db,
  probes: readonly PlainSecretProbe[],
  limit: number,
): Promise<{ id: string; type: string; config: unknown }[]> {
  const result = await db.query<{ id: string; type: string; config: unknown }>(
    `SELECT DISTINCT s.id, s.action_type AS type, s.action_config AS config FROM subscriptions s
       JOIN unnest($1::text[], $2::jsonpath[]) AS probe(type, path) ON probe.type = s.action_type
      WHERE s.action_plugin_id IS NULL AND jsonb_path_exists(s.action_config, probe.path) ORDER BY s.id LIMIT $3`,
    [probes.map((p) => p.type), probes.map((p) => p.jsonPath), limit],
  );
  return result.rows;
}

/** As `sealPluginConfigInPlace`, for an inline action config. */
export async function sealActionConfigInPlace(db: Db, id: string, plain: unknown, sealed: unknown): Promise<boolean> {
  const result = await db.query('UPDATE subscriptions SET action_config = $3::jsonb WHERE id = $1 AND action_config = $2::jsonb', [
    id,
    JSON.stringify(plain),
    JSON.stringify(sealed),
  ]);
  return (result.rowCount ?? 0) > 0;
}
