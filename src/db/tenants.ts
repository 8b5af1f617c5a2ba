import type { Db } from './client';

export interface Tenant {
  id: string;
  name: string;
  dedup_window_seconds: number;
  created_at: string;
}

const COLUMNS = `id, name, dedup_window_seconds, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS created_at`;

export async function insertTenant(db: Db, tenant: { id: string; name: string; dedupWindowSeconds?: number }): Promise<Tenant> {
  const result = await db.query<Tenant>(
    `INSERT INTO tenants (id, name, dedup_window_seconds) VALUES ($1, $2, COALESCE($3, 86400)) RETURNING ${COLUMNS}`,
    [tenant.id, tenant.name, tenant.dedupWindowSeconds ?? null],
  );
  return result.rows[0]!;
}

export async function findTenant(db: Db, id: string): Promise<Tenant | null> {
  const result = await db.query<Tenant>(`SELECT ${COLUMNS} FROM tenants WHERE id = $1`, [id]);
  return result.rows[0] ?? null;
}

/** Marks a change that ingest must see on the next event; returns the new version. */
export async function bumpConfigVersion(db: Db, tenantId: string): Promise<number> {
  const result = await db.query<{ config_version: string }>(
    'UPDATE tenants SET config_version = config_version + 1 WHERE id = $1 RETURNING config_version',
    [tenantId],
  );
  return Number(result.rows[0]?.config_version ?? 0);
}
