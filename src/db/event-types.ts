/** Event-type schemas: versioned per (tenant, type); the newest live version validates ingest. */
import type { Db } from './client';
import { iso } from './sql';

export interface EventTypeRow {
  type: string;
  version: number;
  schema: Record<string, unknown>;
  description: string | null;
  created_at: string;
}

const COLUMNS = `type, version, schema, description, ${iso('created_at')}`;

/**
 * Adds the next version. Inside a transaction, registrations of one type wait for each other (an
 * advisory lock held to commit); should two still compute the same number, the loser's insert is
 * skipped and retried with a fresh statement, which sees the winner's row. Null when it kept losing.
 */
export async function insertEventTypeVersion(
  db: Db,
  tenantId: string,
  type: string,
  schema: unknown,
  description: string | null,
): Promise<EventTypeRow | null> {
  await db.query(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, [`event_types/${tenantId}/${type}`]);
  for (let attempt = 0; attempt < 5; attempt++) {
    const result = await db.query<EventTypeRow>(
      `INSERT INTO event_types (tenant_id, type, version, schema, description)
       SELECT $1, $2, COALESCE(max(version), 0) + 1, $3, $4 FROM event_types WHERE tenant_id = $1 AND type = $2
       ON CONFLICT DO NOTHING
       RETURNING ${COLUMNS}`,
      [tenantId, type, JSON.stringify(schema), description],
    );
    if (result.rows[0]) return result.rows[0];
  }
  return null;
}

export async function listEventTypes(db: Db, tenantId: string, options: { afterType?: string; limit: number }): Promise<EventTypeRow[]> {
  const result = await db.query<EventTypeRow>(
    `SELECT DISTINCT ON (type) ${COLUMNS} FROM event_types
      WHERE tenant_id = $1 AND deleted_at IS NULL AND ($2::text IS NULL OR type > $2)
      ORDER BY type, version DESC LIMIT $3`,
    [tenantId, options.afterType ?? null, options.limit],
  );
  return result.rows;
}

export async function eventTypeVersions(db: Db, tenantId: string, type: string): Promise<EventTypeRow[]> {
  const result = await db.query<EventTypeRow>(
    `SELECT ${COLUMNS} FROM event_types WHERE tenant_id = $1 AND type = $2 AND deleted_at IS NULL ORDER BY version DESC`,
    [tenantId, type],
  );
  return result.rows;
}

export async function deleteEventType(db: Db, tenantId: string, type: string): Promise<boolean> {
  const result = await db.query('UPDATE event_types SET deleted_at = now() WHERE tenant_id = $1 AND type = $2 AND deleted_at IS NULL', [tenantId, type]);
  return (result.rowCount ?? 0) > 0;
}

/** Everything ingest needs about a tenant's rules, in one round trip. */
export interface TenantRulesRow {
  config_version: string;
  plugins: { id: string; type: string; kind: string; name: string; config: unknown; event_types: string[] }[];
  schemas: { type: string; version: number; schema: unknown }[];
}

export async function loadTenantRules(db: Db, tenantId: string): Promise<TenantRulesRow | null> {
  const result = await db.query<TenantRulesRow>(
    `SELECT t.config_version,
       (SELECT COALESCE(json_agg(p ORDER BY p.position, p.created_at), '[]') FROM (
          SELECT id, type, kind, name, config, event_types, position, created_at FROM plugins
           WHERE tenant_id = t.id AND enabled AND kind IN ('validator', 'transformer')) p) AS plugins,
       (SELECT COALESCE(json_agg(e), '[]') FROM (
          SELECT DISTINCT ON (type) type, version, schema FROM event_types
           WHERE tenant_id = t.id AND deleted_at IS NULL ORDER BY type, version DESC) e) AS schemas
     FROM tenants t WHERE t.id = $1`,
    [tenantId],
  );
  return result.rows[0] ?? null;
}
