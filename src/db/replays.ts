/** Replays: re-deliveries of stored events, worked off in steps by the queue consumer. */
import type { Db } from './client';
import { iso } from './sql';
import { storableText } from '../lib/storable';

export interface ReplayFilter {
  types?: string[];
  where?: unknown;
  from?: string;
  to?: string;
}

export interface ReplayRow {
  id: string;
  tenant_id: string;
  subscription_id: string | null;
  filter: ReplayFilter;
  status: 'running' | 'completed' | 'failed';
  cursor_sequence: number;
  /** In (received_at, sequence) order (a tenant with more than one shard), the `received_at` of the last event passed (Unix ms); null: by sequence, or none passed yet. */
  cursor_received_ms: number | null;
  events_matched: number;
  deliveries: number;
  /** Events the replay put back from the archive. */
  restored_events: number;
  error: string | null;
  created_at: string;
  completed_at: string | null;
}

const COLUMNS = `id, tenant_id, subscription_id, filter, status, cursor_sequence::int8 AS cursor_sequence, cursor_received_ms::int8 AS cursor_received_ms, events_matched, deliveries, restored_events, error, ${iso('created_at')}, ${iso('completed_at')}`;

type RawReplay = Omit<ReplayRow, 'cursor_sequence' | 'cursor_received_ms'> & { cursor_sequence: string; cursor_received_ms: string | null };
const toRow = (r: RawReplay): ReplayRow => ({
  ...r,
  cursor_sequence: Number(r.cursor_sequence),
  cursor_received_ms: r.cursor_received_ms === null ? null : Number(r.cursor_received_ms),
});

export async function insertReplay(db: Db, id: string, tenantId: string, subscriptionId: string | null, filter: ReplayFilter): Promise<ReplayRow> {
  const result = await db.query<RawReplay>(`INSERT INTO replays (id, tenant_id, subscription_id, filter) VALUES ($1, $2, $3, $4) RETURNING ${COLUMNS}`, [
    id,
    tenantId,
    subscriptionId,
    JSON.stringify(filter),
  ]);
  return toRow(result.rows[0]!);
}

export async function findReplay(db: Db, tenantId: string, id: string): Promise<ReplayRow | null> {
  const result = await db.query<RawReplay>(`SELECT ${COLUMNS} FROM replays WHERE tenant_id = $1 AND id = $2`, [tenantId, id]);
  return result.rows[0] ? toRow(result.rows[0]) : null;
}

/** Newest first; `beforeId` continues after the last id of the previous page. */
export async function listReplays(db: Db, tenantId: string, limit: number, beforeId?: string): Promise<ReplayRow[]> {
  const result = await db.query<RawReplay>(`SELECT ${COLUMNS} FROM replays WHERE tenant_id = $1 AND ($3::text IS NULL OR id < $3) ORDER BY id DESC LIMIT $2`, [
    tenantId,
    limit,
    beforeId ?? null,
  ]);
  return result.rows.map(toRow);
}

export async function advanceReplay(
  db: Db,
  id: string,
  step: { cursor: number; cursorReceivedMs?: number | null; matched: number; deliveries: number; restored?: number; done: boolean; error?: string },
): Promise<void> {
  await db.query(
    `UPDATE replays SET cursor_sequence = $2, cursor_received_ms = $8, events_matched = events_matched + $3, deliveries = deliveries + $4, restored_events = restored_events + $7,
            status = CASE WHEN $6::text IS NOT NULL THEN 'failed' WHEN $5 THEN 'completed' ELSE status END,
            error = $6, completed_at = CASE WHEN $5 OR $6::text IS NOT NULL THEN now() ELSE NULL END
      WHERE id = $1`,
    [
      id,
      step.cursor,
      step.matched,
      step.deliveries,
      step.done,
      step.error === undefined ? null : storableText(step.error),
      step.restored ?? 0,
      step.cursorReceivedMs ?? null,
    ],
  );
}
