/**
 * The archive's bookkeeping in Postgres: which parts of a tenant's events are in R2 (`event_archives`),
 * the events the retention job reads to write the next part, and the days the archives API lists.
 */
import type { Db } from './client';
import type { StoredEvent } from './events';
import { iso } from './sql';

export interface ArchivePart {
  day: string;
  part: number;
  key: string;
  count: number;
  seq_from: number;
  seq_to: number;
  received_from: string;
  received_to: string;
  sha256: string;
  bytes: number;
  raw_bytes: number;
  created_at: string;
}

const PART_COLUMNS = `to_char(day, 'YYYY-MM-DD') AS day, part, key, count, seq_from::int8 AS seq_from, seq_to::int8 AS seq_to,
  ${iso('received_from')}, ${iso('received_to')}, sha256, bytes::int8 AS bytes, raw_bytes::int8 AS raw_bytes, ${iso('created_at')}`;

type RawPart = Omit<ArchivePart, 'seq_from' | 'seq_to' | 'bytes' | 'raw_bytes'> & Record<'seq_from' | 'seq_to' | 'bytes' | 'raw_bytes', string>;
const toPart = (r: RawPart): ArchivePart => ({
  ...r,
  seq_from: Number(r.seq_from),
  seq_to: Number(r.seq_to),
  bytes: Number(r.bytes),
  raw_bytes: Number(r.raw_bytes),
});

/** The tenant's oldest event received at or after `from` (Unix ms), as Unix ms; null when none. */
export async function firstEventSince(db: Db, tenantId: string, from: number | null): Promise<number | null> {
  const result = await db.query<{ at: string }>(
    `SELECT (extract(epoch FROM received_at) * 1000)::int8 AS at FROM events
      WHERE tenant_id = $1 AND ($2::float8 IS NULL OR received_at >= to_timestamp($2 / 1000.0)) ORDER BY received_at LIMIT 1`,
    [tenantId, from],
  );
  return result.rows[0] ? Number(result.rows[0].at) : null;
}

/**
 * The next events of one UTC day for the archive: received in [dayStart, dayStart + 1 day), after
 * `afterSequence`, in sequence order, at most `limit` rows and, past the first row, at most
 * `byteBudget` bytes of stored JSON (events may be 1.5 MiB each; a part must fit in memory).
 */
export async function eventsToArchive(
  db: Db,
  tenantId: string,
  dayStart: number,
  afterSequence: number,
  limit: number,
  byteBudget: number,
): Promise<StoredEvent[]> {
  const result = await db.query<StoredEvent & { sequence: string }>(
    `SELECT id, sequence, source_id, received_at, event, sha256, schema_version FROM (
       SELECT *, sum(pg_column_size(event)) OVER (ORDER BY sequence) - pg_column_size(event) AS before_bytes FROM (
         SELECT id, sequence::int8 AS sequence, source_id, ${iso('received_at')}, event, sha256, schema_version FROM events
          WHERE tenant_id = $1 AND received_at >= to_timestamp($2 / 1000.0) AND received_at < to_timestamp($2 / 1000.0) + interval '1 day'
            AND sequence > $3
          ORDER BY sequence LIMIT $4) page) sized
      WHERE before_bytes < $5 ORDER BY sequence`,
    [tenantId, dayStart, afterSequence, limit, byteBudget],
  );
  return result.rows.map((r) => ({ ...r, sequence: Number(r.sequence) }));
}

/** The last part recorded for the tenant's `day` (YYYY-MM-DD), or null. */
export async function lastPartOfDay(db: Db, tenantId: string, day: string): Promise<{ part: number; seq_to: number } | null> {
  const result = await db.query<{ part: number; seq_to: string }>(
    'SELECT part, seq_to::int8 AS seq_to FROM event_archives WHERE tenant_id = $1 AND day = $2::date ORDER BY part DESC LIMIT 1',
    [tenantId, day],
  );
  const row = result.rows[0];
  return row ? { part: row.part, seq_to: Number(row.seq_to) } : null;
}

/** Records a part written to R2. Recording the same part again (a crash after the write) changes nothing. */
export async function recordPart(db: Db, tenantId: string, part: Omit<ArchivePart, 'created_at'>): Promise<void> {
  await db.query(
    `INSERT INTO event_archives (tenant_id, day, part, key, count, seq_from, seq_to, received_from, received_to, sha256, bytes, raw_bytes)
     VALUES ($1, $2::date, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (tenant_id, day, part) DO NOTHING`,
    [
      tenantId,
      part.day,
      part.part,
      part.key,
      part.count,
      part.seq_from,
      part.seq_to,
      part.received_from,
      part.received_to,
      part.sha256,
      part.bytes,
      part.raw_bytes,
    ],
  );
}

export async function partsOfDay(db: Db, tenantId: string, day: string): Promise<ArchivePart[]> {
  const result = await db.query<RawPart>(`SELECT ${PART_COLUMNS} FROM event_archives WHERE tenant_id = $1 AND day = $2::date ORDER BY part`, [tenantId, day]);
  return result.rows.map(toPart);
}

export interface ArchiveDay {
  day: string;
  parts: number;
  count: number;
  seq_from: number;
  seq_to: number;
  received_from: string;
  received_to: string;
  bytes: number;
  raw_bytes: number;
}

/** Archived days, newest first, before `beforeDay` (the cursor), optionally within [from, to). */
export async function listArchiveDays(
  db: Db,
  tenantId: string,
  options: { beforeDay?: string; from?: string; to?: string; limit: number },
): Promise<ArchiveDay[]> {
  const result = await db.query<Record<keyof ArchiveDay, string> & { parts: number }>(
    `SELECT to_char(day, 'YYYY-MM-DD') AS day, count(*)::int AS parts, sum(count)::int8 AS count, min(seq_from)::int8 AS seq_from, max(seq_to)::int8 AS seq_to,
            ${iso('min(received_from)', 'received_from')}, ${iso('max(received_to)', 'received_to')}, sum(bytes)::int8 AS bytes, sum(raw_bytes)::int8 AS raw_bytes
       FROM event_archives
      WHERE tenant_id = $1 AND ($2::date IS NULL OR day < $2::date) AND ($3::date IS NULL OR day >= $3::date) AND ($4::date IS NULL OR day < $4::date)
      GROUP BY day ORDER BY day DESC LIMIT $5`,
    [tenantId, options.beforeDay ?? null, options.from ?? null, options.to ?? null, options.limit],
  );
  return result.rows.map((r) => ({
    day: r.day,
    parts: r.parts,
    count: Number(r.count),
    seq_from: Number(r.seq_from),
    seq_to: Number(r.seq_to),
    received_from: r.received_from,
    received_to: r.received_to,
    bytes: Number(r.bytes),
    raw_bytes: Number(r.raw_bytes),
  }));
}
