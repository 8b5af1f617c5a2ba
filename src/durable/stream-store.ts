/**
 * Live-stream listeners' filters, by socket id. A hibernating WebSocket keeps only a small attachment
 * (at most 2 KB, serialized with the socket), and a filter may take 16 KiB of `where` plus 50 type
 * patterns, so the attachment holds the id, the cursor and the token's expiry, and the filter lives
 * here until the socket closes. Rows of sockets that went away without a close event (the object
 * was evicted) are dropped when the object next starts.
 */
import type { StreamFilterSpec } from './stream-filter';

export const STREAM_SCHEMA = `
CREATE TABLE IF NOT EXISTS stream_filter (socket_id TEXT PRIMARY KEY, types TEXT NOT NULL, where_json TEXT) WITHOUT ROWID;`;

export function saveFilter(sql: SqlStorage, socketId: string, spec: StreamFilterSpec): void {
  sql.exec(
    'INSERT OR REPLACE INTO stream_filter (socket_id, types, where_json) VALUES (?, ?, ?)',
    socketId,
    JSON.stringify(spec.types),
    spec.where == null ? null : JSON.stringify(spec.where),
  );
}

export function loadFilter(sql: SqlStorage, socketId: string): StreamFilterSpec | null {
  const row = sql.exec<{ types: string; where_json: string | null }>('SELECT types, where_json FROM stream_filter WHERE socket_id = ?', socketId).toArray()[0];
  return row ? { types: JSON.parse(row.types) as string[], where: row.where_json === null ? null : (JSON.parse(row.where_json) as unknown) } : null;
}

export function dropFilter(sql: SqlStorage, socketId: string): void {
  sql.exec('DELETE FROM stream_filter WHERE socket_id = ?', socketId);
}

/** Forgets the filters of every socket not in `alive`. */
export function dropFiltersExcept(sql: SqlStorage, alive: readonly string[]): void {
  sql.exec('DELETE FROM stream_filter WHERE socket_id NOT IN (SELECT value FROM json_each(?))', JSON.stringify(alive));
}
