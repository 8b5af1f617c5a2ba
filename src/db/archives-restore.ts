/**
 * A restore-replay's queries: find the next archived part whose events Postgres no longer holds, mark
 * its range kept, and put its events back into `events` from the archive's NDJSON lines.
 */
import type { ArchivePart } from './archives';
import type { Db } from './client';
import { iso } from './sql';

/** Where a replay looks for missing parts: after its sequence cursor, or (more than one shard) after its position's received_at. */
export type MissingPartWindow = { afterSequence: number; uptoSequence: number | null } | { afterMs: number | null; uptoMs: number | null };

/**
 * The first archived part after the window's start (in sequence order; by received_at for a window
 * of times), starting at or before its end (null: any), overlapping received_at [from, to), of which
 * some event is missing from `events`; null when Postgres holds everything there.
 */
export async function nextMissingPart(db: Db, tenantId: string, range: MissingPartWindow & { from?: string; to?: string }): Promise<ArchivePart | null> {
  const bySequence = 'afterSequence' in range;
  const window = bySequence
    ? 'a.seq_to > $2 AND ($3::int8 IS NULL OR a.seq_from <= $3)'
    : // a part ending at the cursor's ms may hold events after it there (a larger sequence)
      '($2::int8 IS NULL OR a.received_to >= to_timestamp($2::int8 / 1000.0)) AND ($3::int8 IS NULL OR a.received_from <= to_timestamp($3::int8 / 1000.0))';
  const result = await db.query<Record<string, string | number>>(
    `SELECT to_char(a.day, 'YYYY-MM-DD') AS day, a.part, a.key, a.count, a.seq_from::int8 AS seq_from, a.seq_to::int8 AS seq_to,
            ${iso('a.received_from')}, ${iso('a.received_to')}, a.sha256, a.bytes::int8 AS bytes, a.raw_bytes::int8 AS raw_bytes, ${iso('a.created_at')}
       FROM event_archives a
      WHERE a.tenant_id = $1 AND ${window}
        AND ($4::timestamptz IS NULL OR a.received_to >= $4) AND ($5::timestamptz IS NULL OR a.received_from < $5)
        AND (SELECT count(*) FROM events e
              WHERE e.tenant_id = $1 AND e.sequence BETWEEN a.seq_from AND a.seq_to
                AND e.received_at >= (a.day::timestamp AT TIME ZONE 'UTC') AND e.received_at < ((a.day + 1)::timestamp AT TIME ZONE 'UTC')) < a.count
      ORDER BY ${bySequence ? 'a.seq_from' : 'a.received_from, a.seq_from'} LIMIT 1`,
    [tenantId, bySequence ? range.afterSequence : range.afterMs, bySequence ? range.uptoSequence : range.uptoMs, range.from ?? null, range.to ?? null],
  );
  const r = result.rows[0];
  if (!r) return null;
  return {
    day: String(r.day),
    part: Number(r.part),
    key: String(r.key),
    count: Number(r.count),
    seq_from: Number(r.seq_from),
    seq_to: Number(r.seq_to),
    received_from: String(r.received_from),
    received_to: String(r.received_to),
    sha256: String(r.sha256),
    bytes: Number(r.bytes),
    raw_bytes: Number(r.raw_bytes),
    created_at: String(r.created_at),
  };
}

/** Keeps the events of a restored range from the retention job for `keepSeconds`. */
export async function keepRestored(db: Db, tenantId: string, replayId: string, part: ArchivePart, keepSeconds: number): Promise<void> {
  await db.query(
    `INSERT INTO event_restores (tenant_id, replay_id, seq_from, seq_to, keep_until) VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))
     ON CONFLICT (tenant_id, replay_id, seq_from) DO UPDATE SET keep_until = EXCLUDED.keep_until`,
    [tenantId, replayId, part.seq_from, part.seq_to, keepSeconds],
  );
}

/**
 * Puts archived events back into `events`: `lines` are the archive's NDJSON lines, passed to Postgres
 * as they are (so numbers keep what the line says) and taken apart there: the API's attributes come
 * off, the producer's id goes back to `id`, values `shadowed_attributes` kept go back on. Events
 * Postgres still holds are left alone. Returns how many were put back.
 */
export async function restoreArchivedLines(db: Db, tenantId: string, lines: readonly string[]): Promise<number> {
  const result = await db.query(
    `INSERT INTO events (tenant_id, sequence, id, source_id, ce_id, ce_source, type, subject, time, partition_key,
                         correlation_id, causation_id, event, sha256, received_at, priority, schema_version)
     SELECT $1, (l->>'sequence')::int8, l->>'id', l->>'source_id', l->>'ce_id', e->>'source', e->>'type', e->>'subject',
            (e->>'time')::timestamptz, e->>'partitionkey', e->>'correlationid', e->>'causationid', e, l->>'sha256', (l->>'received_at')::timestamptz,
            -- as insertEvents derives it
            CASE WHEN e->>'priority' IN ('low', 'high', 'critical') THEN e->>'priority' ELSE 'normal' END, (l->>'schema_version')::int
       FROM jsonb_array_elements($2::jsonb) AS l,
            LATERAL (SELECT (l - 'id' - 'ce_id' - 'sequence' - 'source_id' - 'received_at' - 'sha256' - 'shadowed_attributes' - 'schema_version')
                            || jsonb_build_object('id', l->'ce_id') || COALESCE(l->'shadowed_attributes', '{}') AS e) AS x
     ON CONFLICT DO NOTHING`,
    [tenantId, `[${lines.join(',')}]`],
  );
  return result.rowCount ?? 0;
}
