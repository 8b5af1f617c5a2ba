/**
 * The TenantLog's first outbox: acknowledged events not yet in Postgres, and the dedup keys of the
 * window. All functions run inside the caller's synchronous transaction.
 *
 * Rules a reader would not guess:
 * - An append is set-based: one dedup lookup, one insert per {@link INSERT_ROWS} events and one for
 *   the dedup keys, instead of three statements per event. Each row crosses as two bound values: its
 *   other columns as one small JSON array, and the event text as it is (escaping it into the JSON and
 *   having SQLite take it apart again cost more than the insert itself); CROSS JOIN keeps the dedup
 *   lookup probing the key once per incoming event.
 * - The batch JSON that `insertEvents` takes is written by SQLite itself, with the stored event text
 *   spliced in unparsed (one value crosses into JS, not thirteen per row; and SQLite's own JSON parser
 *   would refuse the deep nesting Postgres is left to judge). {@link encodeOutbox} is the one encoder,
 *   for a flush batch and for the slices of a batch Postgres refused.
 */
import type { RoutedEvent } from '../delivery/fan-out';
import type { AppendItem, AppendResult } from '../ingest/log-types';
import { newIds } from '../lib/ids';
import { keepRefused } from './quarantine-store';
import { advanceHeads, subjectHeads } from './subject-head-store';

const OUTBOX_SCHEMA = `
CREATE TABLE IF NOT EXISTS dedup (
  source_id TEXT NOT NULL, ce_id TEXT NOT NULL, sha256 TEXT NOT NULL, id TEXT NOT NULL,
  sequence INTEGER NOT NULL, expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS dedup_bucket (expires_at INTEGER PRIMARY KEY, first INTEGER NOT NULL, last INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
  sequence INTEGER PRIMARY KEY, id TEXT NOT NULL, source_id TEXT NOT NULL, ce_id TEXT NOT NULL,
  type TEXT NOT NULL, subject TEXT, time TEXT, partition_key TEXT, correlation_id TEXT,
  causation_id TEXT, event TEXT NOT NULL, sha256 TEXT NOT NULL, received_at INTEGER NOT NULL, schema_version INTEGER
);`;

/**
 * Creates the outbox and dedup tables, and adds what later versions added to tables made before them.
 * The dedup keys' unique index is made here, not in the schema: a log made before it keeps its
 * `WITHOUT ROWID` table keyed by (source, id) and its expiry index (see {@link forgetExpired}).
 */
export function prepareOutbox(sql: SqlStorage): void {
  sql.exec(OUTBOX_SCHEMA);
  if (!sql.exec('SELECT * FROM outbox LIMIT 0').columnNames.includes('schema_version')) sql.exec('ALTER TABLE outbox ADD COLUMN schema_version INTEGER');
  if (!keyedDedup(sql)) sql.exec('CREATE UNIQUE INDEX IF NOT EXISTS dedup_key ON dedup (source_id, ce_id)');
}

const keyedTables = new WeakMap<SqlStorage, boolean>();
/** The dedup table is the `WITHOUT ROWID` one of logs made before dedup buckets (no rowid; an expiry index instead of buckets). */
function keyedDedup(sql: SqlStorage): boolean {
  let keyed = keyedTables.get(sql);
  if (keyed === undefined) {
    const table = sql.exec<{ sql: string }>("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'dedup'").toArray()[0];
    keyed = table !== undefined && /WITHOUT\s+ROWID/i.test(table.sql);
    keyedTables.set(sql, keyed);
  }
  return keyed;
}

/** Expiry buckets are whole minutes: a key outlives its window by less than one (lookups check `expires_at` themselves). */
const BUCKET_MS = 60_000;
const bucketOf = (column: string) => `((${column} + ${BUCKET_MS - 1}) / ${BUCKET_MS}) * ${BUCKET_MS}`;
/** Widens the bucket of a minute to cover more rowids (SQLite's upsert: the SELECT needs its WHERE). */
const MERGE_BUCKET = 'ON CONFLICT (expires_at) DO UPDATE SET first = min(first, excluded.first), last = max(last, excluded.last)';

/** The dedup table's last rowid before rows are added (null: the old table, which has none); pass it to {@link coverDedupRows} after. */
export function dedupMark(sql: SqlStorage): number | null {
  if (keyedDedup(sql)) return null;
  return sql.exec<{ last: number | null }>('SELECT max(rowid) AS last FROM dedup').one().last ?? 0;
}

/** Puts the dedup rows added since `mark` into the expiry bucket of the earliest among them. */
export function coverDedupRows(sql: SqlStorage, mark: number | null): void {
  if (mark === null) return;
  sql.exec(
    `INSERT INTO dedup_bucket (expires_at, first, last)
     SELECT ${bucketOf('min(expires_at)')}, min(rowid), max(rowid) FROM dedup WHERE rowid > ? GROUP BY true HAVING count(*) > 0 ${MERGE_BUCKET}`,
    mark,
  );
}

/** One outbox row. A type, not an interface, so that it is a `SqlStorage` row. */
export type OutboxRow = {
  sequence: number;
  id: string;
  source_id: string;
  ce_id: string;
  type: string;
  subject: string | null;
  time: string | null;
  partition_key: string | null;
  correlation_id: string | null;
  causation_id: string | null;
  /** The CloudEvent as stored, JSON text. */
  event: string;
  sha256: string;
  /** Unix ms. */
  received_at: number;
  /** The schema version that validated the event (README "Schema evolution"); null: none. */
  schema_version: number | null;
};

/** The outbox's columns, named alike in the table and the batch JSON for Postgres. */
const OUTBOX_COLUMNS = [
  'sequence',
  'id',
  'source_id',
  'ce_id',
  'type',
  'subject',
  'time',
  'partition_key',
  'correlation_id',
  'causation_id',
  'event',
  'sha256',
  'received_at',
  'schema_version',
] as const satisfies readonly (keyof OutboxRow)[];

/**
 * One outbox row as a JSON object (SQL over the outbox's columns): `json_object` writes every column
 * but the event in one pass (its last value is a scalar, so only its closing brace is trimmed), and the
 * event, JSON text already, is spliced in unparsed.
 */
const ROW_JSON = `rtrim(json_object(${OUTBOX_COLUMNS.filter((c) => c !== 'event')
  .map((c) => `'${c}', ${c}`)
  .join(', ')}), '}') || ',"event":' || event || '}'`;

/** The columns an append binds as one JSON array per row, in this order (the event goes on its own, `received_at` once). */
const ROW_COLUMNS = OUTBOX_COLUMNS.filter((c) => c !== 'event' && c !== 'received_at');
/** Rows per outbox INSERT: two bound values each, and `received_at`, within the 99 after it a Durable Object statement may bind. */
const INSERT_ROWS = 49;
const insertStatements = new Map<number, string>();
/** Inserts `rows` rows bound as `received_at`, then per row its columns (a JSON array of {@link ROW_COLUMNS}) and its event. */
function insertOutbox(rows: number): string {
  let statement = insertStatements.get(rows);
  if (!statement) {
    statement = `INSERT INTO outbox (${ROW_COLUMNS.join(', ')}, event, received_at)
      SELECT ${ROW_COLUMNS.map((_, i) => `column1 ->> ${i}`).join(', ')}, column2, ?1 FROM (VALUES ${Array.from({ length: rows }, (_, i) => `(?${2 * i + 2}, ?${2 * i + 3})`).join(', ')})`;
    insertStatements.set(rows, statement);
  }
  return statement;
}

interface DedupRow extends Record<string, SqlStorageValue> {
  source_id: string;
  ce_id: string;
  sha256: string;
  id: string;
  sequence: number;
}

/** A row's {@link ROW_COLUMNS} values, in that order. */
type RowValues = (string | number | null)[];

const dedupKey = (sourceId: string, ceId: string) => `${sourceId}\n${ceId}`;

/**
 * Dedups, sequences and records `items` after `lastSequence`; results in input order. Same (source, id)
 * and same hash inside the window: the original sequence with `duplicate`; a different hash: `conflict`.
 * A repeat of an id later in the same batch is a duplicate (or conflict) of its first copy. A new event
 * with `expectedSequence` is written only if its subject's head (subject-head-store.ts, including the
 * events before it in `items`) equals it, else `sequence_conflict` with the head; dedup comes first,
 * so a resend of an accepted event is still its duplicate. Several calls in one transaction chain.
 */
export function appendToOutbox(
  sql: SqlStorage,
  items: readonly AppendItem[],
  at: {
    lastSequence: number;
    now: number;
    expiresAt: number;
    /** The log pruned idle subject heads (subject-head-store.ts): a missing head is not 0. */
    pruned?: boolean;
    /** Heads read from Postgres for guarded subjects without a row; a row wins over these. */
    fallbackHeads?: ReadonlyMap<string, number>;
  },
): { results: AppendResult[]; lastSequence: number } {
  const { now } = at;
  let lastSequence = at.lastSequence;
  const seen = new Map<string, DedupRow>();
  const keys = JSON.stringify(items.map((item) => ({ source_id: item.sourceId, ce_id: item.ceId })));
  for (const row of sql.exec<DedupRow>(
    `SELECT d.source_id, d.ce_id, d.sha256, d.id, d.sequence FROM json_each(?) AS k
     CROSS JOIN dedup AS d ON d.source_id = k.value ->> '$.source_id' AND d.ce_id = k.value ->> '$.ce_id' WHERE d.expires_at > ?`,
    keys,
    now,
  )) {
    seen.set(dedupKey(row.source_id, row.ce_id), row);
  }
  const guarded = items.flatMap((item) => (item.expectedSequence != null && item.subject !== null ? [item.subject] : []));
  const heads = subjectHeads(sql, guarded);
  // heads move within the batch only for a later guarded item to read
  const trackHeads = guarded.length > 0;
  // one for every item, in case all are new: drawing them together is cheaper than one by one
  const ids = newIds('evt', items.length, now);
  /** Per fresh row: its columns as a JSON array of {@link ROW_COLUMNS}, then its event. */
  const fresh: string[] = [];
  const results = items.map((item): AppendResult => {
    const key = dedupKey(item.sourceId, item.ceId);
    const earlier = seen.get(key);
    if (earlier) {
      return earlier.sha256 === item.sha256
        ? { kind: 'accepted', id: earlier.id, sequence: earlier.sequence, duplicate: true }
        : { kind: 'conflict', id: earlier.id, sequence: earlier.sequence };
    }
    if (item.expectedSequence != null && item.subject !== null) {
      const head = heads.get(item.subject) ?? at.fallbackHeads?.get(item.subject) ?? (at.pruned ? undefined : 0);
      // pruned between the log's Postgres lookup and this transaction: unknown, so not guessed
      if (head === undefined) return { kind: 'sequence_unknown' };
      if (head !== item.expectedSequence) return { kind: 'sequence_conflict', currentSequence: head };
    }
    const sequence = ++lastSequence;
    if (trackHeads && item.subject !== null) heads.set(item.subject, sequence);
    const id = ids[fresh.length / 2]!;
    seen.set(key, { source_id: item.sourceId, ce_id: item.ceId, sha256: item.sha256, id, sequence });
    const columns: RowValues = [
      sequence,
      id,
      item.sourceId,
      item.ceId,
      item.type,
      item.subject,
      item.time,
      item.partitionKey,
      item.correlationId,
      item.causationId,
      item.sha256,
      item.schemaVersion ?? null,
    ];
    fresh.push(JSON.stringify(columns), item.json);
    return { kind: 'accepted', id, sequence, duplicate: false };
  });
  if (fresh.length > 0) {
    for (let at = 0; at < fresh.length; at += 2 * INSERT_ROWS) {
      const values = fresh.slice(at, at + 2 * INSERT_ROWS);
      sql.exec(insertOutbox(values.length / 2), now, ...values);
    }
    // the keys of the rows just written: read back from the outbox rather than from the JSON a second time
    sql.exec(
      `INSERT OR REPLACE INTO dedup (source_id, ce_id, sha256, id, sequence, expires_at)
       SELECT source_id, ce_id, sha256, id, sequence, ? FROM outbox WHERE sequence > ?`,
      at.expiresAt,
      at.lastSequence,
    );
    // their rowids are the last ones, one after another (a replaced key is deleted, not reused in place)
    if (!keyedDedup(sql))
      sql.exec(
        `INSERT INTO dedup_bucket (expires_at, first, last) SELECT ?, max(rowid) - ? + 1, max(rowid) FROM dedup WHERE true ${MERGE_BUCKET}`,
        Math.ceil(at.expiresAt / BUCKET_MS) * BUCKET_MS,
        fresh.length / 2,
      );
    advanceHeads(sql, at.lastSequence, now);
  }
  return { results, lastSequence };
}

/** Outbox rows `first..last` as the JSON array `insertEvents` takes; `n` rows. */
export interface Slice {
  n: number;
  first: number;
  last: number;
  events: string;
}

/** The batch JSON of the rows a subquery selects, in its (sequence) order. */
const encoded = (rows: string) =>
  `SELECT count(*) AS n, min(sequence) AS first, max(sequence) AS last, '[' || group_concat(${ROW_JSON}, ',') || ']' AS events FROM (${rows})`;
// octet_length, unlike length, needs no pass over the text to count its characters (and bytes are at least as many)
const OLDEST_SIZES = 'SELECT sequence, octet_length(event) AS chars FROM outbox ORDER BY sequence LIMIT ?';
/** The same rows in one aggregate: a batch under the cap (nearly every one) is cut without a row crossing into JS. */
const OLDEST_TOTAL = `SELECT min(sequence) AS "from", max(sequence) AS "to", sum(chars) AS chars FROM (${OLDEST_SIZES})`;
const ENCODE_RANGE = encoded('SELECT * FROM outbox WHERE sequence BETWEEN ? AND ? ORDER BY sequence');

/** Which outbox rows to encode: the oldest, up to caps, or all of one range of sequences. */
export type OutboxSelection = { oldest: number; maxChars: number } | { from: number; to: number };

/**
 * The selected rows as one {@link Slice}. `oldest` takes at most that many rows and, past the first,
 * only while the events before a row stay under `maxChars` (counted in UTF-8 bytes, never fewer than
 * the characters; to bound the isolate's memory).
 * Nothing selected is `n: 0` with `events: '[]'`.
 */
export function encodeOutbox(sql: SqlStorage, selection: OutboxSelection): Slice {
  // the cut is found from the sizes alone, so the rows are read and encoded once, by range
  const range = 'from' in selection ? selection : oldestRange(sql, selection);
  if (!range) return { n: 0, first: 0, last: 0, events: '[]' };
  const s = sql.exec<{ n: number; first: number | null; last: number | null; events: string | null }>(ENCODE_RANGE, range.from, range.to).one();
  return { n: s.n, first: s.first ?? range.from, last: s.last ?? range.to, events: s.events ?? '[]' };
}

/** The oldest rows a batch takes: at most `oldest`, and past the first only while the events before a row stay under `maxChars`. */
function oldestRange(sql: SqlStorage, selection: { oldest: number; maxChars: number }): { from: number; to: number } | null {
  // every row's predecessors stay under the cap when all of them together do
  const total = sql.exec<{ from: number | null; to: number | null; chars: number | null }>(OLDEST_TOTAL, selection.oldest).one();
  if (total.from === null || total.to === null) return null;
  if ((total.chars ?? 0) <= selection.maxChars) return { from: total.from, to: total.to };
  let chars = 0;
  let range: { from: number; to: number } | null = null;
  for (const row of sql.exec<{ sequence: number; chars: number }>(OLDEST_SIZES, selection.oldest)) {
    if (range && chars >= selection.maxChars) break;
    range = range ? { from: range.from, to: row.sequence } : { from: row.sequence, to: row.sequence };
    chars += row.chars;
  }
  return range;
}

/** How `storeBatch` reads the outbox when a batch has to be split (synchronous SQLite). */
export interface OutboxReader {
  slice(from: number, to: number): Slice;
  /** Event id by sequence for the rows `from..to`. */
  ids(from: number, to: number): Map<number, string>;
  row(sequence: number): OutboxRow;
}

export function outboxReader(sql: SqlStorage): OutboxReader {
  return {
    slice: (from, to) => encodeOutbox(sql, { from, to }),
    ids: (from, to) =>
      new Map(
        sql
          .exec<{ sequence: number; id: string }>('SELECT sequence, id FROM outbox WHERE sequence BETWEEN ? AND ?', from, to)
          .toArray()
          .map((r) => [r.sequence, r.id]),
      ),
    row: (sequence) => sql.exec<OutboxRow>('SELECT * FROM outbox WHERE sequence = ?', sequence).one(),
  };
}

/** True when rows after `sequence` are waiting. */
export function hasRowsAfter(sql: SqlStorage, sequence: number): boolean {
  return sql.exec('SELECT 1 FROM outbox WHERE sequence > ? LIMIT 1', sequence).toArray().length > 0;
}

/** The outbox rows up to `last` as routing sees them; the event text only when a filter needs it. */
export function routedEvents(sql: SqlStorage, last: number, withEvent: boolean): RoutedEvent[] {
  return sql
    .exec<RoutedEvent & Record<string, SqlStorageValue>>(
      `SELECT id, sequence, type, subject, partition_key, json_extract(event, '$.priority') AS priority,
              json_extract(event, '$.deliverat') AS deliverat, received_at, ${withEvent ? 'event' : "'' AS event"} FROM outbox WHERE sequence <= ? ORDER BY sequence`,
      last,
    )
    .toArray();
}

/**
 * Ends a flush: the rows through `through` leave the outbox. Refused rows lose their dedup key, so a
 * resend is not told `duplicate` about an event that was never stored; those Postgres could not hold
 * even in its quarantine move to the log's own.
 */
export function dropFlushed(
  sql: SqlStorage,
  through: number,
  refused: readonly { sequence: number; error: string; sqlstate: string | null; heldBy: 'postgres' | 'tenant_log' }[],
  now: number,
): void {
  for (const r of refused) {
    sql.exec('DELETE FROM dedup WHERE (source_id, ce_id) IN (SELECT source_id, ce_id FROM outbox WHERE sequence = ?) AND sequence = ?', r.sequence, r.sequence);
    if (r.heldBy === 'tenant_log') keepRefused(sql, r.sequence, r.error, r.sqlstate, now);
  }
  sql.exec('DELETE FROM outbox WHERE sequence <= ?', through);
}

/**
 * The `received_at` of the oldest event not yet stored in Postgres (null: none waits). Stamps rise with
 * sequences (the log's clamped clock), so the oldest is the first by sequence: one primary-key probe.
 */
export function oldestOutboxAt(sql: SqlStorage): number | null {
  return sql.exec<{ received_at: number }>('SELECT received_at FROM outbox ORDER BY sequence LIMIT 1').toArray()[0]?.received_at ?? null;
}

export function outboxDepth(sql: SqlStorage): number {
  return sql.exec<{ n: number }>('SELECT count(*) AS n FROM outbox').one().n;
}

/**
 * Drops the dedup keys whose window has passed. Each key's rowid lies in the range of a bucket that
 * expires no later than the key does: the expired keys of a due bucket's range go, and the bucket
 * comes back at the earliest expiry among what is left (a range can hold keys of other windows, as
 * sources differ). Three statements however many buckets are due.
 */
export function forgetExpired(sql: SqlStorage, now: number): void {
  if (keyedDedup(sql)) {
    sql.exec('DELETE FROM dedup WHERE expires_at <= ?', now);
    return;
  }
  sql.exec(
    `DELETE FROM dedup WHERE rowid IN (
       SELECT d.rowid FROM dedup_bucket AS b JOIN dedup AS d ON d.rowid BETWEEN b.first AND b.last WHERE b.expires_at <= ?1 AND d.expires_at <= ?1)`,
    now,
  );
  sql.exec(
    `INSERT INTO dedup_bucket (expires_at, first, last)
     SELECT ${bucketOf('min(d.expires_at)')}, min(b.first), max(b.last) FROM dedup_bucket AS b JOIN dedup AS d ON d.rowid BETWEEN b.first AND b.last
     WHERE b.expires_at <= ?1 GROUP BY b.expires_at ${MERGE_BUCKET}`,
    now,
  );
  sql.exec('DELETE FROM dedup_bucket WHERE expires_at <= ?', now);
}
