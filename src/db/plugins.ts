/** Plugin instances a tenant registered. Every query names the tenant. */
import type { Db } from './client';
import { iso } from './sql';

export interface PluginRow {
  id: string;
  tenant_id: string;
  type: string;
  kind: string;
  name: string;
  config: Record<string, unknown>;
  event_types: string[];
  position: number;
  enabled: boolean;
  version: number;
  created_at: string;
  updated_at: string;
}

const COLUMNS = `id, tenant_id, type, kind, name, config, event_types, position, enabled, version, ${iso('created_at')}, ${iso('updated_at')}`;

export interface NewPlugin {
  id: string;
  tenantId: string;
  type: string;
  kind: string;
  name: string;
  config: unknown;
  eventTypes: string[];
  position: number;
  enabled: boolean;
}

export async function insertPlugin(db: Db, p: NewPlugin): Promise<PluginRow> {
  const result = await db.query<PluginRow>(
    `INSERT INTO plugins (id, tenant_id, type, kind, name, config, event_types, position, enabled)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING ${COLUMNS}`,
    [p.id, p.tenantId, p.type, p.kind, p.name, JSON.stringify(p.config), p.eventTypes, p.position, p.enabled],
  );
  return result.rows[0]!;
}

export async function findPlugin(db: Db, tenantId: string, id: string): Promise<PluginRow | null> {
  const result = await db.query<PluginRow>(`SELECT ${COLUMNS} FROM plugins WHERE tenant_id = $1 AND id = $2`, [tenantId, id]);
  return result.rows[0] ?? null;
}

export async function listPlugins(db: Db, tenantId: string, options: { afterId?: string; kind?: string; limit: number }): Promise<PluginRow[]> {
  const result = await db.query<PluginRow>(
    `SELECT ${COLUMNS} FROM plugins
      WHERE tenant_id = $1 AND ($2::text IS NULL OR id > $2) AND ($3::text IS NULL OR kind = $3)
      ORDER BY id LIMIT $4`,
    [tenantId, options.afterId ?? null, options.kind ?? null, options.limit],
  );
  return result.rows;
}

export interface PluginPatch {
  name?: string;
  config?: unknown;
  eventTypes?: string[];
  position?: number;
  enabled?: boolean;
}

/** Applies a patch when `expectedVersion` matches (or is not given); null when nothing matched. */
export async function updatePlugin(db: Db, tenantId: string, id: string, patch: PluginPatch, expectedVersion?: number): Promise<PluginRow | null> {
  const result = await db.query<PluginRow>(
    `UPDATE plugins SET
       name = COALESCE($3, name), config = COALESCE($4::jsonb, config), event_types = COALESCE($5, event_types),
       position = COALESCE($6, position), enabled = COALESCE($7, enabled), version = version + 1, updated_at = now()
     WHERE tenant_id = $1 AND id = $2 AND ($8::int IS NULL OR version = $8)
     RETURNING ${COLUMNS}`,
    [
      tenantId,
      id,
      patch.name ?? null,
      patch.config === undefined ? null : JSON.stringify(patch.config),
      patch.eventTypes ?? null,
      patch.position ?? null,
      patch.enabled ?? null,
      expectedVersion ?? null,
    ],
  );
  return result.rows[0] ?? null;
}

export async function deletePlugin(db: Db, tenantId: string, id: string): Promise<boolean> {
  const result = await db.query('DELETE FROM plugins WHERE tenant_id = $1 AND id = $2', [tenantId, id]);
  return (result.rowCount ?? 0) > 0;
}

/** Sources and subscriptions that use the instance; a used instance cannot be deleted. */
export async function pluginUsers(db: Db, tenantId: string, id: string): Promise<string[]> {
  const result = await db.query<{ id: string }>(
    `SELECT id FROM sources WHERE tenant_id = $1 AND verifier_plugin_id = $2
     UNION ALL
     SELECT id FROM subscriptions WHERE tenant_id = $1 AND (action_plugin_id = $2 OR transformer_plugin_id = $2)
     ORDER BY id LIMIT 20`,
    [tenantId, id],
  );
  return result.rows.map((r) => r.id);
}

/** Where a stored config may hold a plain secret: a type and an SQL/JSON path that finds one. */
export interface PlainSecretProbe {
  type: string;
  jsonPath: string;
}

/** Instances (of any tenant) whose config still holds a secret in plain text: rows written before sealing. */
export async function pluginsWithPlainSecrets(
  db: Db,
  probes: readonly PlainSecretProbe[],
  limit: number,
): Promise<{ id: string; type: string; config: unknown }[]> {
  const result = await db.query<{ id: string; type: string; config: unknown }>(
    `SELECT DISTINCT p.id, p.type, p.config FROM plugins p
       JOIN unnest($1::text[], $2::jsonpath[]) AS probe(type, path) ON probe.type = p.type
      WHERE jsonb_path_exists(p.config, probe.path) ORDER BY p.id LIMIT $3`,
    [probes.map((p) => p.type), probes.map((p) => p.jsonPath), limit],
  );
  return result.rows;
}

/**
 * Stores a config with its secrets sealed in place of the same config in plain text. The instance
 * does not change for readers (secrets read as the marker either way), so its version stays; a row
 * changed meanwhile is left to its writer, who sealed it.
 */
export async function sealPluginConfigInPlace(db: Db, id: string, plain: unknown, sealed: unknown): Promise<boolean> {
  const result = await db.query('UPDATE plugins SET config = $3::jsonb WHERE id = $1 AND config = $2::jsonb', [
    id,
    JSON.stringify(plain),
    JSON.stringify(sealed),
  ]);
  return (result.rowCount ?? 0) > 0;
}
