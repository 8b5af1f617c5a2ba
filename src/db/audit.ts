import type { Db } from './client';

/** `actor` names who acted, as `actorOf(principal)` spells it (`admin:<sub>`, `tenant:<sub>`). */
export async function recordAudit(
  db: Db,
  entry: { tenantId: string | null; actor: string; action: string; target?: string; details?: Record<string, unknown> },
): Promise<void> {
  await db.query('INSERT INTO audit_log (tenant_id, actor, action, target, details) VALUES ($1, $2, $3, $4, $5)', [
    entry.tenantId,
    entry.actor,
    entry.action,
    entry.target ?? null,
    JSON.stringify(entry.details ?? {}),
  ]);
}

export interface AuditEntry {
  id: string;
  actor: string;
  action: string;
  target: string | null;
  details: Record<string, unknown>;
  at: string;
}

/** Newest first, continuing below `beforeId`. */
export async function listAudit(
  db: Db,
  tenantId: string,
  options: { beforeId?: string; action?: string; target?: string; limit: number },
): Promise<AuditEntry[]> {
  const result = await db.query<AuditEntry>(
    `SELECT id::text AS id, actor, action, target, details, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at
       FROM audit_log
      WHERE tenant_id = $1 AND ($2::bigint IS NULL OR id < $2) AND ($3::text IS NULL OR action = $3) AND ($4::text IS NULL OR target = $4)
      ORDER BY audit_log.id DESC LIMIT $5`,
    [tenantId, options.beforeId ?? null, options.action ?? null, options.target ?? null, options.limit],
  );
  return result.rows;
}
