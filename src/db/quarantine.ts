/**
 * The `quarantined_events` table: events the TenantLog acknowledged but Postgres refused to store,
 * kept as text with the error (migrations/0007). Every query names the tenant.
 */
import type { Db } from './client';
import { iso } from './sql';
import { errorProperty } from '../lib/errors';

/**
 * SQLSTATE classes that blame the data, not the connection or the server: 22 data exception (NUL in
 * jsonb, bad timestamp), 23 integrity constraint (an id already taken), 54 program limit exceeded
 * (54001 stack depth on deep nesting). Anything else (no code: network, timeout; 08 connection,
 * 53 resources, 57 shutdown, 42 a bug in our SQL) is retried, never blamed on a row.
 */
const DATA_CLASSES = new Set(['22', '23', '54']);

export function sqlstateOf(error: unknown): string | null {
  const code = errorProperty(error, 'code');
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : null;
}

export function isDataError(error: unknown): boolean {
  const state = sqlstateOf(error);
  return state !== null && DATA_CLASSES.has(state.slice(0, 2));
}

export interface QuarantineRow {
  sequence: number;
  id: string;
  source_id: string;
  ce_id: string;
  type: string;
  /** The event's JSON text as the outbox holds it. */
  event: string;
  /** Unix ms. */
  received_at: number;
  error: string;
  sqlstate: string | null;
}

/**
 * Records one refused event. True when Postgres now holds it under this event id; false when its
 * sequence is held by another event. Throws when Postgres cannot take even the text (the caller then
 * keeps it in the TenantLog) or cannot be reached.
 */
export async function quarantineEvent(db: Db, tenantId: string, row: QuarantineRow): Promise<boolean> {
  const result = await db.query(
    `INSERT INTO quarantined_events (tenant_id, sequence, id, source_id, ce_id, type, event, error, sqlstate, received_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, to_timestamp($10 / 1000.0))
     ON CONFLICT (tenant_id, sequence) DO UPDATE SET error = EXCLUDED.error, sqlstate = EXCLUDED.sqlstate
       WHERE quarantined_events.id = EXCLUDED.id
     RETURNING 1`,
    [tenantId, row.sequence, row.id, row.source_id, row.ce_id, row.type, row.event, row.error.slice(0, 2000), row.sqlstate, row.received_at],
  );
  return result.rows.length === 1;
}

export interface QuarantinedEvent {
  sequence: number;
  id: string;
  source_id: string;
  ce_id: string;
  type: string;
  event: string;
  error: string;
  sqlstate: string | null;
  received_at: string;
  quarantined_at: string;
}

export async function listQuarantined(db: Db, tenantId: string, afterSequence: number, limit: number): Promise<QuarantinedEvent[]> {
  const result = await db.query<QuarantinedEvent & { sequence: string }>(
    `SELECT sequence::int8 AS sequence, id, source_id, ce_id, type, event, error, sqlstate, ${iso('received_at')}, ${iso('quarantined_at')}
       FROM quarantined_events WHERE tenant_id = $1 AND sequence > $2 ORDER BY sequence LIMIT $3`,
    [tenantId, afterSequence, limit],
  );
  return result.rows.map((r) => ({ ...r, sequence: Number(r.sequence) }));
}
