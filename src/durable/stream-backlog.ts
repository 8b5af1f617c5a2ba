/**
 * The backlog of a listener that resumes with `since_sequence`: every stored event after its cursor
 * up to the head it was registered at, read one bounded page at a time. The TenantLog drops outbox
 * rows once Postgres has them, so older events are read from Postgres and newer ones from the outbox.
 *
 * Why no event is skipped: the outbox always holds one contiguous range of sequences (appends add at
 * the end, a flush drops a prefix after Postgres committed it), and its lowest sequence is read
 * synchronously before Postgres is asked. Everything below it was committed to Postgres before that
 * read, so the query sees it (a sequence Postgres refused is in no table; the events API skips it too).
 * A flush that moves rows meanwhile only means the next page asks Postgres again.
 */
import type { Db } from '../db/client';
import type { StoredEvent } from '../db/events';
import { iso } from '../db/sql';
import { storedFromLog } from './stream-render';

/** Rows per page, and the event text a page stops after (its first row always goes), to bound memory. */
export const BACKLOG_PAGE = 500;
export const BACKLOG_PAGE_CHARS = 4 * 1024 * 1024;

export interface BacklogEvent {
  sequence: number;
  type: string;
  stored: StoredEvent;
}

export interface BacklogPage {
  events: BacklogEvent[];
  /** The sequence the page covers up to: the listener's cursor once it is sent. */
  through: number;
}

export interface BacklogSources {
  sql: SqlStorage;
  tenantId: string;
  /** Runs a Postgres read (the TenantLog's connection for streams). */
  postgres<T>(work: (db: Db) => Promise<T>): Promise<T>;
}

/** The next page after `after`, never past `head`. */
export async function readBacklogPage(sources: BacklogSources, after: number, head: number): Promise<BacklogPage> {
  if (after >= head) return { events: [], through: after };
  const oldest = sources.sql.exec<{ first: number | null }>('SELECT min(sequence) AS first FROM outbox').one().first ?? Number.POSITIVE_INFINITY;
  if (after + 1 < oldest) {
    const upTo = Math.min(head, oldest - 1);
    const { rows, cut } = await sources.postgres((db) => flushedPage(db, sources.tenantId, after, upTo));
    return {
      events: rows.map((stored) => ({ sequence: stored.sequence, type: String(stored.event.type), stored })),
      through: cut ? rows.at(-1)!.sequence : upTo,
    };
  }
  return outboxPage(sources.sql, after, head);
}

// the columns and rendering of db/events.ts's COLUMNS, so the event object is the one GET /events/{id} returns
const FLUSHED = `
  SELECT id, sequence, source_id, received_at, event, sha256, n FROM (
    SELECT *, sum(size) OVER (ORDER BY sequence ROWS UNBOUNDED PRECEDING) - size AS before, count(*) OVER () AS n FROM (
      SELECT id, sequence::int8 AS sequence, source_id, ${iso('received_at')}, event, sha256, octet_length(event::text) AS size
        FROM events WHERE tenant_id = $1 AND sequence > $2 AND sequence <= $3 ORDER BY sequence LIMIT $4) AS page) AS sized
   WHERE before < $5 ORDER BY sequence`;

async function flushedPage(db: Db, tenantId: string, after: number, upTo: number): Promise<{ rows: StoredEvent[]; cut: boolean }> {
  const result = await db.query<{
    id: string;
    sequence: string;
    source_id: string;
    received_at: string;
    event: Record<string, unknown>;
    sha256: string;
    n: string;
  }>(FLUSHED, [tenantId, after, upTo, BACKLOG_PAGE, BACKLOG_PAGE_CHARS]);
  const rows = result.rows.map((r) => ({
    id: r.id,
    sequence: Number(r.sequence),
    source_id: r.source_id,
    received_at: r.received_at,
    event: r.event,
    sha256: r.sha256,
  }));
  const read = Number(result.rows[0]?.n ?? 0);
  return { rows, cut: rows.length > 0 && (read === BACKLOG_PAGE || rows.length < read) };
}

const OUTBOX_PAGE = `
  SELECT sequence, id, source_id, type, received_at, event, sha256, n FROM (
    SELECT *, sum(length(event)) OVER (ORDER BY sequence ROWS UNBOUNDED PRECEDING) - length(event) AS before, count(*) OVER () AS n FROM (
      SELECT sequence, id, source_id, type, received_at, event, sha256 FROM outbox WHERE sequence > ? AND sequence <= ? ORDER BY sequence LIMIT ?))
   WHERE before < ? ORDER BY sequence`;

function outboxPage(sql: SqlStorage, after: number, head: number): BacklogPage {
  const rows = sql
    .exec<{ sequence: number; id: string; source_id: string; type: string; received_at: number; event: string; sha256: string; n: number }>(
      OUTBOX_PAGE,
      after,
      head,
      BACKLOG_PAGE,
      BACKLOG_PAGE_CHARS,
    )
    .toArray();
  const read = rows[0]?.n ?? 0;
  const cut = rows.length > 0 && (read === BACKLOG_PAGE || rows.length < read);
  return {
    events: rows.map((r) => ({ sequence: r.sequence, type: r.type, stored: storedFromLog(r) })),
    through: cut ? rows.at(-1)!.sequence : head,
  };
}
