import { actorOf, type Principal } from '../tenancy/principal';
import type { Db } from './client';

export async function recordAudit(
  db: Db,
  entry: { tenantId: string | null; principal: Principal; action: string; target?: string; details?: Record<string, unknown> },
): Promise<void> {
  await db.query('INSERT INTO audit_log (tenant_id, actor, action, target, details) VALUES ($1, $2, $3, $4, $5)', [
    entry.tenantId, actorOf(entry.principal), entry.action, entry.target ?? null, JSON.stringify(entry.details ?? {}),
  ]);
}
