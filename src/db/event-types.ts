/**
 * Event-type schemas: versioned per (tenant, type); the newest live version validates ingest unless an
 * event names another in `dataschema`. Version numbers are never reused, even after a delete.
 */
import type { CompatibilityMode } from '../lib/json-schema/compat';
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

/** The version a new one is checked against: the newest live one, with the type's mode. */
export interface LatestVersion {
  version: number;
  schema: unknown;
  compatibility: CompatibilityMode;
}

export async function latestVersion(db: Db, tenantId: string, type: string): Promise<LatestVersion | null> {
  const result = await db.query<{ version: number; schema: unknown }>(
    `SELECT version, schema FROM event_types WHERE tenant_id = $1 AND type = $2 AND deleted_at IS NULL ORDER BY version DESC LIMIT 1`,
    [tenantId, type],
  );
  const row = result.rows[0];
  return row ? { ...row, compatibility: await compatibilityOf(db, tenantId, type) } : null;
}

export async function compatibilityOf(db: Db, tenantId: string, type: string): Promise<CompatibilityMode> {
  const result = await db.query<{ compatibility: CompatibilityMode }>('SELECT compatibility FROM event_type_settings WHERE tenant_id = $1 AND type = $2', [
    tenantId,
    type,
  ]);
  return result.rows[0]?.compatibility ?? 'backward';
}

export async function setCompatibility(db: Db, tenantId: string, type: string, mode: CompatibilityMode): Promise<void> {
  await db.query(
    `INSERT INTO event_type_settings (tenant_id, type, compatibility) VALUES ($1, $2, $3)
     ON CONFLICT (tenant_id, type) DO UPDATE SET compatibility = EXCLUDED.compatibility, updated_at = now()`,
    [tenantId, type, mode],
  );
}

/** One live version's schema, for an event whose `dataschema` names it; null when absent or deleted. */
export async function eventTypeVersion(db: Db, tenantId: string, type: string, version: number): Promise<{ version: number; schema: unknown } | null> {
  const result = await db.query<{ version: number; schema: unknown }>(
    'SELECT version, schema FROM event_types WHERE tenant_id = $1 AND type = $2 AND version = $3 AND deleted_at IS NULL',
    [tenantId, type, version],
  );
  return result.rows[0] ?? null;
}

/** Stored events a new version is tried on: the newest of the type, up to `limit` and about `maxBytes` of stored JSON. */
export const SAMPLE_EVENTS = { limit: 200, maxBytes: 4 * 1024 * 1024, timeoutMs: 2_000 } as const;
const QUERY_CANCELED = '57014';

/**
 * The `data` of the most recently stored events of `type` (whichever version validated them: events
 * that name an older version in `dataschema` are data consumers read too), newest first, bounded by
 * SAMPLE_EVENTS and a statement timeout; a timeout gives none (the check is a sample, never a scan).
 * Runs inside the caller's transaction, in a savepoint that takes the timeout (and a cancel) back.
 */
export async function sampleEventData(db: Db, tenantId: string, type: string): Promise<{ id: string; data: unknown }[]> {
  await db.query('SAVEPOINT sample_events');
  try {
    await db.query(`SET LOCAL statement_timeout = ${SAMPLE_EVENTS.timeoutMs}`);
    const result = await db.query<{ id: string; data: unknown }>(
      `SELECT id, data FROM (
           SELECT id, event->'data' AS data, sum(pg_column_size(event)) OVER (ORDER BY sequence DESC) AS running
             FROM (SELECT id, sequence, event FROM events
                    WHERE tenant_id = $1 AND type = $2 AND event ? 'data'
                    ORDER BY sequence DESC LIMIT $3) newest) bounded
          WHERE running <= $4`,
      [tenantId, type, SAMPLE_EVENTS.limit, SAMPLE_EVENTS.maxBytes],
    );
    return result.rows;
  } catch (error) {
    if ((error as { code?: unknown }).code === QUERY_CANCELED) return [];
    throw error;
  } finally {
    await db.query('ROLLBACK TO SAVEPOINT sample_events');
  }
}

/** Inside a transaction, registrations of one type wait for each other: an advisory lock held to commit (re-entrant). */
export async function lockEventType(db: Db, tenantId: string, type: string): Promise<void> {
  await db.query(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, [`event_types/${tenantId}/${type}`]);
}

/**
 * Adds the next version, under `lockEventType`; should two still compute the same number, the loser's
 * insert is skipped and retried with a fresh statement, which sees the winner's row. Null when it kept losing.
 */
export async function insertEventTypeVersion(
  db: Db,
  tenantId: string,
  type: string,
  schema: unknown,
  description: string | null,
): Promise<EventTypeRow | null> {
  await lockEventType(db, tenantId, type);
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

/** The newest version of each type, with the type's compatibility mode. */
export async function listEventTypes(
  db: Db,
  tenantId: string,
  options: { afterType?: string; limit: number },
): Promise<(EventTypeRow & { compatibility: CompatibilityMode })[]> {
  const result = await db.query<EventTypeRow & { compatibility: CompatibilityMode }>(
    `SELECT e.*, COALESCE(s.compatibility, 'backward') AS compatibility FROM (
       SELECT DISTINCT ON (type) ${COLUMNS} FROM event_types
        WHERE tenant_id = $1 AND deleted_at IS NULL AND ($2::text IS NULL OR type > $2)
        ORDER BY type, version DESC LIMIT $3) e
     LEFT JOIN event_type_settings s ON s.tenant_id = $1 AND s.type = e.type
     ORDER BY e.type`,
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
  await db.query('DELETE FROM event_type_settings WHERE tenant_id = $1 AND type = $2', [tenantId, type]);
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
