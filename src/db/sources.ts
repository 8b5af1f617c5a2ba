import { rateRuleSchema, type RateRule } from '../ratelimit/limits';
import type { Db } from './client';

export interface Source {
  id: string;
  tenant_id: string;
  name: string;
  verifier_type: string;
  verifier_config: Record<string, unknown>;
  verifier_plugin_id: string | null;
  /** The source's own rate limit (replacing the tenant's per-source rule), or null. */
  rate_limit: RateRule | null;
  /** May send `priority: critical` events (they skip the rate limits and take the critical lane); set by admins. */
  allow_critical: boolean;
  created_at: string;
}

type SourceRow = Omit<Source, 'rate_limit'> & { rate_limit: unknown };

const toSource = (row: SourceRow): Source => ({ ...row, rate_limit: rateRuleSchema.nullable().parse(row.rate_limit ?? null) });

/** A source with what ingest needs to verify it: the tenant's dedup window and sealed secrets. */
export interface SourceForIngest extends Omit<Source, 'rate_limit' | 'allow_critical'> {
  dedup_window_seconds: number;
  config_version: string;
  /** Newest first; `secret_expires_at` holds each one's expiry (Unix ms, null: none) at the same index. */
  sealed_secrets: string[];
  secret_expires_at: (number | null)[];
  rate_limits: unknown;
  /** The source's own rule; absent on copies cached before it existed. */
  source_rate_limit?: unknown;
  /** Absent on copies cached before it existed: false. */
  allow_critical?: boolean;
  /** The tenant's shard count; absent on copies cached before it existed: 1. */
  shards?: number;
  /** The epoch of the tenant's newest shard-count change (absent: 0), and the count it moves from while it is moving (else null). */
  shard_epoch?: number;
  moving_from?: number | null;
}

const COLUMNS = `s.id, s.tenant_id, s.name, s.verifier_type, s.verifier_config, s.verifier_plugin_id, s.rate_limit, s.allow_critical,
  to_char(s.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS created_at`;

export async function insertSource(
  db: Db,
  source: {
    id: string;
    tenantId: string;
    name: string;
    verifierType: string;
    verifierConfig: unknown;
    verifierPluginId: string | null;
    sealedSecrets: { id: string; ciphertext: string }[];
  },
): Promise<Source> {
  // one statement, so a source never exists without its secret
  const result = await db.query<SourceRow>(
    `WITH s AS (
       INSERT INTO sources (id, tenant_id, name, verifier_type, verifier_config, verifier_plugin_id) VALUES ($1, $2, $3, $4, $5, $7)
       RETURNING *
     ), k AS (
       INSERT INTO source_secrets (id, tenant_id, source_id, ciphertext)
       SELECT x.id, $2, $1, x.ciphertext FROM jsonb_to_recordset($6::jsonb) AS x(id text, ciphertext text)
     )
     SELECT ${COLUMNS} FROM s`,
    [
      source.id,
      source.tenantId,
      source.name,
      source.verifierType,
      JSON.stringify(source.verifierConfig),
      JSON.stringify(source.sealedSecrets),
      source.verifierPluginId,
    ],
  );
  return toSource(result.rows[0]!);
}

export async function findSourceForIngest(db: Db, sourceId: string): Promise<SourceForIngest | null> {
  const result = await db.query<SourceForIngest>(
    `SELECT s.id, s.tenant_id, s.name, COALESCE(p.type, s.verifier_type) AS verifier_type,
            COALESCE(p.config, s.verifier_config) AS verifier_config, s.verifier_plugin_id, s.created_at::text,
            t.dedup_window_seconds, t.config_version, t.rate_limits, s.rate_limit AS source_rate_limit, s.allow_critical, t.shards,
            t.shard_epoch, (SELECT c.from_shards FROM shard_changes c WHERE c.tenant_id = t.id AND c.state = 'moving') AS moving_from,
            COALESCE(array_agg(k.ciphertext ORDER BY k.created_at DESC) FILTER (WHERE k.id IS NOT NULL), '{}') AS sealed_secrets,
            COALESCE(json_agg(floor(extract(epoch FROM k.expires_at) * 1000) ORDER BY k.created_at DESC) FILTER (WHERE k.id IS NOT NULL), '[]') AS secret_expires_at
       FROM sources s
       JOIN tenants t ON t.id = s.tenant_id
       LEFT JOIN plugins p ON p.id = s.verifier_plugin_id
       LEFT JOIN source_secrets k ON k.source_id = s.id AND (k.expires_at IS NULL OR k.expires_at > now())
      WHERE s.id = $1
      GROUP BY s.id, t.id, p.id`,
    [sourceId],
  );
  return result.rows[0] ?? null;
}

export async function listSources(db: Db, tenantId: string, options: { afterId?: string; limit: number }): Promise<Source[]> {
  const result = await db.query<SourceRow>(
    `SELECT ${COLUMNS} FROM sources s WHERE s.tenant_id = $1 AND ($2::text IS NULL OR s.id > $2) ORDER BY s.id LIMIT $3`,
    [tenantId, options.afterId ?? null, options.limit],
  );
  return result.rows.map(toSource);
}

export async function findSource(db: Db, tenantId: string, id: string): Promise<Source | null> {
  const result = await db.query<SourceRow>(`SELECT ${COLUMNS} FROM sources s WHERE s.tenant_id = $1 AND s.id = $2`, [tenantId, id]);
  const row = result.rows[0];
  return row ? toSource(row) : null;
}

/** Changes what is given: the name, the source's own rate limit (null removes it), whether it may send critical events. */
export async function updateSource(
  db: Db,
  tenantId: string,
  id: string,
  change: { name?: string; rateLimit?: unknown; allowCritical?: boolean },
): Promise<Source | null> {
  const result = await db.query<SourceRow>(
    `UPDATE sources s SET name = COALESCE($3, s.name), rate_limit = CASE WHEN $4::boolean THEN $5::jsonb ELSE s.rate_limit END,
            allow_critical = COALESCE($6, s.allow_critical)
      WHERE s.tenant_id = $1 AND s.id = $2 RETURNING ${COLUMNS}`,
    [
      tenantId,
      id,
      change.name ?? null,
      change.rateLimit !== undefined,
      change.rateLimit === undefined || change.rateLimit === null ? null : JSON.stringify(change.rateLimit),
      change.allowCritical ?? null,
    ],
  );
  const row = result.rows[0];
  return row ? toSource(row) : null;
}

/** Deletes a source and its secrets; its events stay (they carry the source id, not a reference). */
export async function deleteSource(db: Db, tenantId: string, id: string): Promise<boolean> {
  const result = await db.query('DELETE FROM sources WHERE tenant_id = $1 AND id = $2', [tenantId, id]);
  return (result.rowCount ?? 0) > 0;
}

export async function sourceIdsOfTenant(db: Db, tenantId: string): Promise<string[]> {
  const result = await db.query<{ id: string }>('SELECT id FROM sources WHERE tenant_id = $1', [tenantId]);
  return result.rows.map((r) => r.id);
}
