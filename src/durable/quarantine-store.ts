/**
 * The TenantLog's own quarantine: refused events Postgres could not take even as text in
 * `quarantined_events` (see store-batch.ts). They stay in the Durable Object's SQLite and are listed
 * by the quarantine API next to the Postgres ones. All functions run inside the caller's transaction.
 */
import type { QuarantinedEvent } from '../db/quarantine';

export const QUARANTINE_SCHEMA = `
CREATE TABLE IF NOT EXISTS quarantine (
  sequence INTEGER PRIMARY KEY, id TEXT NOT NULL, source_id TEXT NOT NULL, ce_id TEXT NOT NULL, type TEXT NOT NULL,
  event TEXT NOT NULL, error TEXT NOT NULL, sqlstate TEXT, received_at INTEGER NOT NULL, quarantined_at INTEGER NOT NULL
);`;

/** Moves an outbox row into the quarantine (the caller deletes the outbox row). */
export function keepRefused(sql: SqlStorage, sequence: number, error: string, sqlstate: string | null, now: number): void {
  sql.exec(
    `INSERT OR REPLACE INTO quarantine (sequence, id, source_id, ce_id, type, event, error, sqlstate, received_at, quarantined_at)
     SELECT sequence, id, source_id, ce_id, type, event, ?, ?, received_at, ? FROM outbox WHERE sequence = ?`,
    error,
    sqlstate,
    now,
    sequence,
  );
}

const isoOf = (ms: number) => new Date(ms).toISOString();

/** A row of the table: the API's shape with its times in epoch milliseconds. */
type KeptRow = Omit<QuarantinedEvent, 'received_at' | 'quarantined_at'> & { received_at: number; quarantined_at: number };

/** Up to `limit` quarantined events after `afterSequence`, in sequence order. */
export function listKept(sql: SqlStorage, afterSequence: number, limit: number): QuarantinedEvent[] {
  return sql
    .exec<KeptRow>('SELECT * FROM quarantine WHERE sequence > ? ORDER BY sequence LIMIT ?', afterSequence, limit)
    .toArray()
    .map((r) => ({ ...r, received_at: isoOf(r.received_at), quarantined_at: isoOf(r.quarantined_at) }));
}

export function keptCount(sql: SqlStorage): number {
  return sql.exec<{ n: number }>('SELECT count(*) AS n FROM quarantine').one().n;
}
