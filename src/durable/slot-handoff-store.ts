/**
 * The handoff of a live shard-count change (docs/design/sharding.md §4), cut into pages: what an old
 * shard stores per new owner in `slot_handoff` and sends one page per `adopt` call, and how the new
 * owner takes a page in. All functions run inside the caller's synchronous transaction.
 *
 * Rules a reader would not guess:
 * - No stored value and no RPC grows with the tenant's data: a page holds at most about
 *   HANDOFF_PAGE_BYTES of JSON (rows are kept whole; an ordered line's rows may span pages, each row
 *   carrying its final rank). Every new owner gets at least one page, so each of its slots is adopted.
 * - The new owner inserts each page's rows as they come (INSERT OR IGNORE) but adopts the slots only
 *   with the last page: until then it answers `moving` for them and releases no head. A page of an
 *   epoch whose slots are adopted already is ignored whole, so a resent early page cannot put back
 *   ordered-line rows that were since delivered.
 * - A handoff stored by the previous version (one row, no `page`) reads as page 0 of 1; its line rows
 *   carry no rank and get theirs from their place in the line.
 */
import { slotOf } from '../tenancy/shard-routing';
import { coverDedupRows, dedupMark } from './outbox-store';

/** The most JSON a page holds (a single row larger than this still goes whole, alone). */
export const HANDOFF_PAGE_BYTES = 256 * 1024;

export const SLOT_HANDOFF_SCHEMA = `
CREATE TABLE IF NOT EXISTS slot_handoff (
  epoch INTEGER NOT NULL, to_shard INTEGER NOT NULL, page INTEGER NOT NULL, pages INTEGER NOT NULL, body TEXT NOT NULL,
  PRIMARY KEY (epoch, to_shard, page)) WITHOUT ROWID;`;

/** Rebuilds a `slot_handoff` made before pages (run after the schema): its unsent handoff becomes page 0 of 1. */
export function upgradeHandoffTable(sql: SqlStorage): void {
  const paged = sql.exec<{ n: number }>("SELECT count(*) AS n FROM pragma_table_info('slot_handoff') WHERE name = 'page'").one().n > 0;
  if (paged) return;
  sql.exec('ALTER TABLE slot_handoff RENAME TO slot_handoff_unpaged');
  sql.exec(SLOT_HANDOFF_SCHEMA);
  sql.exec('INSERT INTO slot_handoff (epoch, to_shard, page, pages, body) SELECT epoch, to_shard, 0, 1, body FROM slot_handoff_unpaged');
  sql.exec('DROP TABLE slot_handoff_unpaged');
}

type Row = Record<string, SqlStorageValue>;
/** `received_at`: its event's (epoch ms), for the released message; absent in pages of the previous version, null on rows from before the column. */
type LineRow = { sequence: number; delivery_id: string; priority: string | null; rank?: number; received_at?: number | null };
export type LineKey = { subscription_id: string; partition_key: string };

/** One page's part of an ordered line (`inflight` rides on the line's first part only). */
interface LineSegment extends LineKey {
  rows: LineRow[];
  inflight: string | null;
}

/** One page of what a new owner receives for the slots it adopts. */
export interface HandoffPage {
  slots: number[];
  dedup: Row[];
  claims: Row[];
  heads: Row[];
  lines: LineSegment[];
  /** The old owner's last `received_at`: the new owner stamps its events after it. */
  floor: number;
  /** The old owner pruned idle subject heads: a subject without a head is not proof of "no event yet" (subject-head-store.ts). */
  pruned: boolean;
}

const encoder = new TextEncoder();
const bytesOf = (value: unknown) => encoder.encode(JSON.stringify(value)).length + 1;

/**
 * Cuts the handoffs of `epoch` into pages as rows are added and stores each full page in
 * `slot_handoff`; `finish` stores the rest and stamps every page with its owner's page count.
 */
export function handoffWriter(sql: SqlStorage, epoch: number, slotsByOwner: ReadonlyMap<number, number[]>, floor: number, pruned: boolean) {
  const open = new Map<number, { page: HandoffPage; bytes: number; base: number; index: number }>();
  const empty = (to: number): HandoffPage => ({ slots: slotsByOwner.get(to)!, dedup: [], claims: [], heads: [], lines: [], floor, pruned });
  const store = (to: number, o: { page: HandoffPage; index: number }) =>
    sql.exec('INSERT OR REPLACE INTO slot_handoff (epoch, to_shard, page, pages, body) VALUES (?, ?, ?, 0, ?)', epoch, to, o.index, JSON.stringify(o.page));
  const pageFor = (to: number, bytes: number): HandoffPage => {
    let o = open.get(to);
    if (!o) {
      const page = empty(to);
      open.set(to, (o = { page, bytes: bytesOf(page), base: bytesOf(page), index: 0 }));
    } else if (o.bytes + bytes > HANDOFF_PAGE_BYTES && o.bytes > o.base) {
      store(to, o);
      o.page = empty(to);
      o.bytes = o.base;
      o.index++;
    }
    o.bytes += bytes;
    return o.page;
  };
  return {
    row(to: number, table: 'dedup' | 'claims' | 'heads', row: Row): void {
      pageFor(to, bytesOf(row))[table].push(row);
    },
    /** A whole ordered line, its rows in order (they may span pages). */
    line(to: number, key: LineKey, rows: readonly LineRow[], inflight: string | null): void {
      const header = bytesOf({ ...key, rows: [], inflight });
      let segment: LineSegment | undefined;
      let on: HandoffPage | undefined;
      if (rows.length === 0) pageFor(to, header).lines.push({ ...key, rows: [], inflight });
      for (const [i, row] of rows.entries()) {
        const page = pageFor(to, bytesOf(row) + (on ? 0 : header));
        if (page !== on) {
          segment = { ...key, rows: [], inflight: on ? null : inflight };
          page.lines.push(segment);
          on = page;
        }
        segment!.rows.push({ ...row, rank: i - rows.length });
      }
    },
    finish(): void {
      for (const to of slotsByOwner.keys()) {
        pageFor(to, 0);
        store(to, open.get(to)!);
      }
      sql.exec(
        'UPDATE slot_handoff SET pages = (SELECT count(*) FROM slot_handoff AS p WHERE p.epoch = slot_handoff.epoch AND p.to_shard = slot_handoff.to_shard) WHERE epoch = ?',
        epoch,
      );
    },
  };
}

/** The first page not yet acknowledged of `epoch` (owners in order, each owner's pages in order), or null. */
export function nextHandoffPage(sql: SqlStorage, epoch: number): { to: number; page: number; pages: number; body: string } | null {
  const row = sql
    .exec<{ to_shard: number; page: number; pages: number; body: string }>(
      'SELECT to_shard, page, pages, body FROM slot_handoff WHERE epoch = ? ORDER BY to_shard, page LIMIT 1',
      epoch,
    )
    .toArray()[0];
  return row ? { to: row.to_shard, page: row.page, pages: row.pages, body: row.body } : null;
}

export function dropHandoffPage(sql: SqlStorage, epoch: number, to: number, page: number): void {
  sql.exec('DELETE FROM slot_handoff WHERE epoch = ? AND to_shard = ? AND page = ?', epoch, to, page);
}

const insertRow = (sql: SqlStorage, table: string, row: Row) => {
  const columns = Object.keys(row);
  sql.exec(`INSERT OR IGNORE INTO ${table} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`, ...columns.map((c) => row[c]!));
};

/**
 * Takes one page in. Returns false when this epoch's slots were adopted already (nothing changes);
 * else, on the last page, the keyed lines of the adopted slots whose heads the caller releases (the
 * slots are recorded adopted; the caller marks them in memory after the commit), on an earlier page [].
 */
export function adoptHandoffPage(
  sql: SqlStorage,
  adopted: ReadonlyMap<number, number>,
  p: { epoch: number; from: number; page: number; pages: number; handoff: HandoffPage },
): LineKey[] | false {
  const { epoch, handoff } = p;
  if (handoff.slots.every((slot) => (adopted.get(slot) ?? -1) >= epoch)) return false;
  const mark = dedupMark(sql);
  for (const row of handoff.dedup) insertRow(sql, 'dedup', row);
  coverDedupRows(sql, mark);
  for (const row of handoff.claims) insertRow(sql, 'id_claim', row);
  for (const row of handoff.heads) insertRow(sql, 'subject_head', row);
  if (handoff.pruned) sql.exec("INSERT OR REPLACE INTO subject_head_state (key, value) VALUES ('pruned', 1)");
  for (const line of handoff.lines) {
    for (const [i, r] of line.rows.entries())
      sql.exec(
        'INSERT OR IGNORE INTO ordered_line (subscription_id, partition_key, sequence, delivery_id, priority, rank, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
        line.subscription_id,
        line.partition_key,
        r.sequence,
        r.delivery_id,
        r.priority,
        r.rank ?? i - line.rows.length,
        r.received_at ?? null,
      );
    if (line.inflight !== null)
      sql.exec(
        'INSERT OR IGNORE INTO ordered_inflight (subscription_id, partition_key, delivery_id) VALUES (?, ?, ?)',
        line.subscription_id,
        line.partition_key,
        line.inflight,
      );
  }
  if (p.page < p.pages - 1) return [];
  for (const slot of handoff.slots) sql.exec('INSERT OR IGNORE INTO slot_adopted (epoch, slot, from_shard) VALUES (?, ?, ?)', epoch, slot, p.from);
  // the lines earlier pages brought are here too: nothing else lines up in a slot before it is adopted
  const slots = new Set(handoff.slots);
  return sql
    .exec<LineKey>(
      `SELECT DISTINCT subscription_id, partition_key FROM ordered_line WHERE partition_key != ''
       UNION SELECT subscription_id, partition_key FROM ordered_inflight WHERE partition_key != ''`,
    )
    .toArray()
    .filter((line) => slots.has(slotOf(line.partition_key)));
}
