/** What Postgres says about a tenant's deliveries, read by the fault suite's own connection. */
import { query } from '../lib/postgres.ts';

export interface DeliveryRow {
  id: string;
  subscription_id: string;
  ce_id: string;
  type: string;
  sequence: number;
  partition_key: string | null;
  status: string;
  attempts: number;
  recorded_attempts: number;
  leased_until: string | null;
}

export async function listDeliveries(databaseUrl: string, tenantId: string): Promise<DeliveryRow[]> {
  const rows = (await query(
    databaseUrl,
    `SELECT d.id, d.subscription_id, e.ce_id, e.type, d.event_sequence::int8 AS sequence, d.partition_key, d.status, d.attempts,
            (SELECT count(*) FROM delivery_attempts a WHERE a.delivery_id = d.id)::int AS recorded_attempts, d.leased_until::text AS leased_until
       FROM deliveries d JOIN events e ON e.tenant_id = d.tenant_id AND e.id = d.event_id
      WHERE d.tenant_id = $1 ORDER BY d.event_sequence`,
    [tenantId],
  )) as (Omit<DeliveryRow, 'sequence'> & { sequence: string })[];
  return rows.map((r) => ({ ...r, sequence: Number(r.sequence) }));
}

export async function deliveryStates(databaseUrl: string, tenantId: string): Promise<{ total: number; pending: number; byStatus: Record<string, number>; pendingExamples: string[] }> {
  const rows = await listDeliveries(databaseUrl, tenantId);
  const byStatus: Record<string, number> = {};
  for (const r of rows) byStatus[r.status] = (byStatus[r.status] ?? 0) + 1;
  const pending = rows.filter((r) => r.status === 'pending');
  return {
    total: rows.length,
    pending: pending.length,
    byStatus,
    pendingExamples: pending.slice(0, 3).map((r) => `${r.id} (event ${r.ce_id}, ${r.attempts} attempts, lease ${r.leased_until ?? 'none'})`),
  };
}
