import type { Db } from './client';

export interface Tenant {
  id: string;
  name: string;
  dedup_window_seconds: number;
  /** Ingest rate limits (ratelimit/limits.ts); `{}`: none. */
  rate_limits: Record<string, unknown>;
  /** How many TenantLogs its events are spread over (tenancy/shard-routing.ts), 1–64. */
  shards: number;
  /** The highest shard count the tenant ever had: calls that go to every shard go to 0..shard_span-1. */
  shard_span: number;
  /** The newest change of the shard count (tenancy/shard-change.ts), or null when there was none. */
  shard_change: ShardChange | null;
  created_at: string;
}

export interface ShardChange {
  epoch: number;
  from: number;
  to: number;
  state: 'moving' | 'done';
  started_at: string;
  finished_at: string | null;
  released_slots: number;
  moving_slots: number;
}

const ISO = (column: string) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
const SHARD_CHANGE = `(SELECT json_build_object('epoch', c.epoch, 'from', c.from_shards, 'to', c.to_shards, 'state', c.state,
    'started_at', ${ISO('c.started_at')}, 'finished_at', ${ISO('c.finished_at')}, 'released_slots', c.released_slots, 'moving_slots', c.moving_slots)
  FROM shard_changes c WHERE c.tenant_id = tenants.id ORDER BY c.epoch DESC LIMIT 1) AS shard_change`;
const COLUMNS = `id, name, dedup_window_seconds, rate_limits, shards, shard_span, ${SHARD_CHANGE}, ${ISO('created_at')} AS created_at`;

export async function insertTenant(
  db: Db,
  tenant: { id: string; name: string; dedupWindowSeconds?: number; rateLimits?: unknown; shards?: number },
): Promise<Tenant> {
  const result = await db.query<Tenant>(
    `INSERT INTO tenants (id, name, dedup_window_seconds, rate_limits, shards, shard_span)
     VALUES ($1, $2, COALESCE($3, 86400), COALESCE($4::jsonb, '{}'), COALESCE($5, 1), COALESCE($5, 1)) RETURNING ${COLUMNS}`,
    [
      tenant.id,
      tenant.name,
      tenant.dedupWindowSeconds ?? null,
      tenant.rateLimits === undefined ? null : JSON.stringify(tenant.rateLimits),
      tenant.shards ?? null,
    ],
  );
  return result.rows[0]!;
}

/** Changes the given fields; null when the tenant does not exist. */
export async function updateTenant(db: Db, id: string, fields: { name?: string; dedupWindowSeconds?: number; rateLimits?: unknown }): Promise<Tenant | null> {
  const result = await db.query<Tenant>(
    `UPDATE tenants SET name = COALESCE($2, name), dedup_window_seconds = COALESCE($3, dedup_window_seconds), rate_limits = COALESCE($4::jsonb, rate_limits)
      WHERE id = $1 RETURNING ${COLUMNS}`,
    [id, fields.name ?? null, fields.dedupWindowSeconds ?? null, fields.rateLimits === undefined ? null : JSON.stringify(fields.rateLimits)],
  );
  return result.rows[0] ?? null;
}

export async function findTenant(db: Db, id: string): Promise<Tenant | null> {
  const result = await db.query<Tenant>(`SELECT ${COLUMNS} FROM tenants WHERE id = $1`, [id]);
  return result.rows[0] ?? null;
}

/** A tenant's config version and how many logs (shards) must learn it. */
export interface BumpedVersion {
  version: number;
  shards: number;
}

/**
 * Locks the tenant's row for the rest of the transaction (a config change takes it before any other
 * row, so concurrent changes queue instead of deadlocking) and returns its shard count then.
 */
export async function lockTenantRow(db: Db, tenantId: string): Promise<number> {
  const result = await db.query<{ shards: number }>('SELECT shards FROM tenants WHERE id = $1 FOR NO KEY UPDATE', [tenantId]);
  return result.rows[0]?.shards ?? 1;
}

/** Marks a change that ingest must see on the next event; returns the new version (and the tenant's shard count, to announce it to every log). */
export async function bumpConfigVersion(db: Db, tenantId: string): Promise<BumpedVersion> {
  const result = await db.query<{ config_version: string; shards: number }>(
    // every shard ever used learns the version: a retired shard must refuse what stale isolates still send it
    'UPDATE tenants SET config_version = config_version + 1 WHERE id = $1 RETURNING config_version, shard_span AS shards',
    [tenantId],
  );
  const row = result.rows[0];
  return { version: Number(row?.config_version ?? 0), shards: row?.shards ?? 1 };
}

/** Tenants in id (creation) order after `afterId`; `name` narrows to names containing it, case-insensitively. */
export async function listTenants(db: Db, options: { afterId?: string; name?: string; limit: number }): Promise<Tenant[]> {
  const result = await db.query<Tenant>(
    `SELECT ${COLUMNS} FROM tenants WHERE ($1::text IS NULL OR id > $1) AND ($2::text IS NULL OR strpos(lower(name), lower($2)) > 0) ORDER BY id LIMIT $3`,
    [options.afterId ?? null, options.name ?? null, options.limit],
  );
  return result.rows;
}

/**
 * Removes the tenant and everything stored for it: sources and their secrets, plugins, event types,
 * subscriptions, events, deliveries and attempts, replays, refusal counts and its audit log. False
 * when there was no such tenant. Runs in the caller's transaction.
 */
export async function deleteTenantData(db: Db, id: string): Promise<boolean> {
  // the tenant row first: writers that reference it (a flush's events, a new source) wait for this
  // transaction instead of interleaving with its deletes
  const found = await db.query('SELECT 1 FROM tenants WHERE id = $1 FOR UPDATE', [id]);
  if ((found.rowCount ?? 0) === 0) return false;
  // children without a foreign key to the tenant first; sources and subscriptions before the plugins they reference
  // no foreign key between the partitioned tables (migration 0020): the attempts go first, by hand
  await db.query('DELETE FROM delivery_attempts WHERE tenant_id = $1', [id]);
  await db.query('DELETE FROM deliveries WHERE tenant_id = $1', [id]);
  await db.query('DELETE FROM ingest_rejections WHERE tenant_id = $1', [id]);
  await db.query('DELETE FROM audit_log WHERE tenant_id = $1', [id]);
  await db.query('DELETE FROM subscriptions WHERE tenant_id = $1', [id]);
  await db.query('DELETE FROM sources WHERE tenant_id = $1', [id]);
  const result = await db.query('DELETE FROM tenants WHERE id = $1', [id]);
  // its archive in R2 goes after the commit (src/archive/purge.ts); recorded here so it cannot be forgotten
  await db.query('INSERT INTO archive_purges (tenant_id) VALUES ($1) ON CONFLICT (tenant_id) DO NOTHING', [id]);
  return (result.rowCount ?? 0) > 0;
}
