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

export async function deliveryStates(
  databaseUrl: string,
  tenantId: string,
): Promise<{ total: number; pending: number; byStatus: Record<string, number>; pendingExamples: string[] }> {
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

/**
 * Per-key order as a receiver saw it: once a delivery of a partition key arrived, no delivery of an
 * earlier event of that key may arrive after it (a repeat of the same delivery may). Returns the
 * violations, as lines.
 */
export function orderViolations(arrivals: { delivery: string }[], rows: DeliveryRow[]): string[] {
  const byId = new Map(rows.map((d) => [d.id, d]));
  const lastSeen = new Map<string, number>();
  const out: string[] = [];
  for (const arrival of arrivals) {
    const d = byId.get(arrival.delivery);
    if (!d) continue;
    const key = d.partition_key ?? '';
    const previous = lastSeen.get(key) ?? 0;
    if (d.sequence < previous) out.push(`key ${key} got sequence ${d.sequence} after ${previous}`);
    lastSeen.set(key, Math.max(previous, d.sequence));
  }
  return out;
}

/** The problem to report when stored events never reached the receiver (none: an empty list). */
export function neverArrived(rows: readonly { ce_id: string }[], arrived: ReadonlySet<string>): string[] {
  const missing = rows.filter((r) => !arrived.has(r.ce_id));
  if (missing.length === 0) return [];
  return [
    `${missing.length} stored events never reached the receiver (e.g. ${missing
      .slice(0, 3)
      .map((r) => r.ce_id)
      .join(', ')})`,
  ];
}
