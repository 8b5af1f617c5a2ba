/**
 * The TenantLog's second outbox: queue messages that must be sent, kept in SQLite until the queue
 * accepted them, plus the per-(subscription, partition key) lines of ordered deliveries. An ordered
 * line has at most one delivery in flight; the next is released when the consumer reports that one
 * finished (delivered or given up). All functions run inside the caller's synchronous transaction.
 *
 * A line row is keyed by its delivery, not only its event's sequence: a replay's delivery of an event
 * whose original is still in the line takes its own place (after or before the original, by delivery
 * id), while staging the same delivery again (a re-flushed batch) changes nothing.
 *
 * Each staged message carries its priority lane (src/delivery/lanes.ts): `dispatch.lane` is its rank
 * (0 critical … 3 low) and the log sends the lowest rank first, so a critical message staged behind
 * thousands of normal ones still leaves first. An ordered line keeps each delivery's priority and
 * releases in line order only ({@link LINE_ORDER}): a critical delivery waits for its line's
 * predecessor, then takes its lane.
 */
import type { PlannedDelivery } from '../delivery/fan-out';
import { laneRank } from '../delivery/lanes';
import { priorityOf, type Priority } from '../lib/priority';
import type { DeliveryMessage } from '../lib/queue-messages';
import { shardOfSequence } from '../tenancy/shard-routing';

export const DISPATCH_SCHEMA = `
CREATE TABLE IF NOT EXISTS dispatch (id INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS ordered_line (
  subscription_id TEXT NOT NULL, partition_key TEXT NOT NULL, sequence INTEGER NOT NULL, delivery_id TEXT NOT NULL,
  PRIMARY KEY (subscription_id, partition_key, sequence, delivery_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ordered_inflight (
  subscription_id TEXT NOT NULL, partition_key TEXT NOT NULL, delivery_id TEXT NOT NULL,
  PRIMARY KEY (subscription_id, partition_key)
) WITHOUT ROWID;`;

/**
 * The order a line releases in: moved-in rows first (negative ranks), then by the event's position
 * `(received_at, sequence)`, then by delivery (an event's original before or after a replay's). Not by
 * sequence alone: a key that moved to a shard with a lower number has older events with larger
 * sequences, and a replay stages both into the line of the key's owner (README "Sharded tenants").
 * Rows from before `received_at` was kept hold null, which SQLite sorts first: they are older.
 */
export const LINE_ORDER = 'rank, received_at, sequence, delivery_id';

/** Rank of the normal lane: what rows staged before lanes existed are sent as. */
const NORMAL_RANK = laneRank('normal');

/**
 * Adds the lane columns to a log created before priority lanes (`dispatch.lane`, `ordered_line.priority`)
 * and the index the drain reads by, and gives an `ordered_line` keyed by sequence alone its key by
 * delivery ({@link rekeyOrderedLine}). Idempotent; run after DISPATCH_SCHEMA when the object starts.
 */
export function upgradeDispatchSchema(sql: SqlStorage): void {
  const has = (table: string, column: string) =>
    sql.exec<{ n: number }>(`SELECT count(*) AS n FROM pragma_table_info('${table}') WHERE name = ?`, column).one().n > 0;
  if (!has('dispatch', 'lane')) sql.exec(`ALTER TABLE dispatch ADD COLUMN lane INTEGER NOT NULL DEFAULT ${NORMAL_RANK}`);
  if (!has('ordered_line', 'priority')) sql.exec('ALTER TABLE ordered_line ADD COLUMN priority TEXT');
  // lines moved in from another shard (slot-move-store.ts) rank below 0: they release first
  if (!has('ordered_line', 'rank')) sql.exec('ALTER TABLE ordered_line ADD COLUMN rank INTEGER NOT NULL DEFAULT 0');
  // the event's received_at (epoch ms), for the released message (`event_received_at`); null on rows from before it (a redrive that knows it fills it in)
  if (!has('ordered_line', 'received_at')) sql.exec('ALTER TABLE ordered_line ADD COLUMN received_at INTEGER');
  sql.exec('CREATE INDEX IF NOT EXISTS dispatch_by_lane ON dispatch (lane, id)');
  rekeyOrderedLine(sql);
}

/** `ordered_line`'s key: two deliveries of one event (the original and a replay's) each hold a place in the line. */
const ORDERED_LINE_KEY = ['subscription_id', 'partition_key', 'sequence', 'delivery_id'];

/**
 * Rebuilds an `ordered_line` whose primary key is the one before replays joined lines (sequence
 * without delivery_id, so a replayed delivery of an event still in the line was ignored). SQLite
 * cannot change a key in place: a new table gets every column the old one has now (run after the
 * ALTERs), the rows are copied, the old table dropped and the new one renamed. No-op once keyed.
 * The object's constructor runs it in one transaction, so a failure leaves the old table whole.
 */
function rekeyOrderedLine(sql: SqlStorage): void {
  const columns = sql
    .exec<{ name: string; type: string; notnull: number; dflt_value: string | null; pk: number }>(
      'SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info(\'ordered_line\') ORDER BY cid',
    )
    .toArray();
  const key = columns
    .filter((c) => c.pk > 0)
    .sort((a, b) => a.pk - b.pk)
    .map((c) => c.name);
  if (key.join() === ORDERED_LINE_KEY.join()) return;
  const definitions = columns.map((c) => `"${c.name}" ${c.type}${c.notnull ? ' NOT NULL' : ''}${c.dflt_value !== null ? ` DEFAULT ${c.dflt_value}` : ''}`);
  const names = columns.map((c) => `"${c.name}"`).join(', ');
  sql.exec('DROP TABLE IF EXISTS ordered_line_rekeyed');
  sql.exec(`CREATE TABLE ordered_line_rekeyed (${definitions.join(', ')}, PRIMARY KEY (${ORDERED_LINE_KEY.join(', ')})) WITHOUT ROWID`);
  sql.exec(`INSERT INTO ordered_line_rekeyed (${names}) SELECT ${names} FROM ordered_line`);
  sql.exec('DROP TABLE ordered_line');
  sql.exec('ALTER TABLE ordered_line_rekeyed RENAME TO ordered_line');
}

interface Dispatched {
  id: string;
  subscriptionId: string;
  partitionKey: string | null;
  priority?: Priority | null;
  /** A scheduled delivery's due time (epoch ms): its message is sent delayed (src/delivery/schedule.ts). */
  notBefore?: number | null;
  /** An ordered delivery's event sequence: the message names the line's shard (absent for shard 0). */
  sequence?: number;
  /** Its event's `received_at` (epoch ms), when known: the consumer's claim reads one partition. */
  receivedAt?: number;
}

function stage(sql: SqlStorage, tenantId: string, d: Dispatched): void {
  const priority = d.priority ?? 'normal';
  const body: DeliveryMessage = {
    type: 'delivery.v1',
    tenant_id: tenantId,
    delivery_id: d.id,
    subscription_id: d.subscriptionId,
    partition_key: d.partitionKey,
    priority,
    ...(d.notBefore ? { not_before: d.notBefore } : {}),
    ...(d.partitionKey !== null && d.sequence !== undefined && shardOfSequence(d.sequence) > 0 ? { shard: shardOfSequence(d.sequence) } : {}),
    ...(d.receivedAt !== undefined ? { event_received_at: d.receivedAt } : {}),
  };
  sql.exec('INSERT INTO dispatch (lane, body) VALUES (?, ?)', laneRank(priority), JSON.stringify(body));
}

/** Queues unordered deliveries for sending and appends ordered ones to their lines. */
export function stageDeliveries(sql: SqlStorage, tenantId: string, planned: readonly PlannedDelivery[]): void {
  const lines = new Set<string>();
  for (const d of planned) {
    if (!d.ordered) {
      stage(sql, tenantId, { ...d, partitionKey: null });
      continue;
    }
    sql.exec(
      'INSERT OR IGNORE INTO ordered_line (subscription_id, partition_key, sequence, delivery_id, priority, received_at) VALUES (?, ?, ?, ?, ?, ?)',
      d.subscriptionId,
      d.partitionKey,
      d.sequence,
      d.id,
      d.priority,
      d.receivedAt ?? null,
    );
    lines.add(JSON.stringify([d.subscriptionId, d.partitionKey]));
  }
  for (const line of lines) {
    const [subscriptionId, partitionKey] = JSON.parse(line) as [string, string];
    releaseHead(sql, tenantId, subscriptionId, partitionKey);
  }
}

/** Ends the in-flight delivery of a line (if it is `deliveryId`) and releases the next one. */
export function finishOrdered(sql: SqlStorage, tenantId: string, subscriptionId: string, partitionKey: string, deliveryId: string): boolean {
  if (inflightOf(sql, subscriptionId, partitionKey) !== deliveryId) return false;
  sql.exec('DELETE FROM ordered_inflight WHERE subscription_id = ? AND partition_key = ?', subscriptionId, partitionKey);
  sql.exec('DELETE FROM ordered_line WHERE subscription_id = ? AND partition_key = ? AND delivery_id = ?', subscriptionId, partitionKey, deliveryId);
  releaseHead(sql, tenantId, subscriptionId, partitionKey);
  return true;
}

/** The delivery a line has in flight, if any. */
function inflightOf(sql: SqlStorage, subscriptionId: string, partitionKey: string): string | undefined {
  return sql
    .exec<{ delivery_id: string }>('SELECT delivery_id FROM ordered_inflight WHERE subscription_id = ? AND partition_key = ?', subscriptionId, partitionKey)
    .toArray()[0]?.delivery_id;
}

/** Puts the line's next delivery in flight, unless one is. */
export function releaseHead(sql: SqlStorage, tenantId: string, subscriptionId: string, partitionKey: string): void {
  if (inflightOf(sql, subscriptionId, partitionKey) !== undefined) return;
  const head = sql
    .exec<{ delivery_id: string; priority: string | null; sequence: number; received_at: number | null }>(
      `SELECT delivery_id, priority, sequence, received_at FROM ordered_line WHERE subscription_id = ? AND partition_key = ? ORDER BY ${LINE_ORDER} LIMIT 1`,
      subscriptionId,
      partitionKey,
    )
    .toArray()[0];
  if (!head) return;
  sql.exec('INSERT INTO ordered_inflight (subscription_id, partition_key, delivery_id) VALUES (?, ?, ?)', subscriptionId, partitionKey, head.delivery_id);
  stage(sql, tenantId, {
    id: head.delivery_id,
    subscriptionId,
    partitionKey,
    priority: priorityOf(head.priority),
    sequence: head.sequence,
    ...(head.received_at !== null ? { receivedAt: head.received_at } : {}),
  });
}

export interface StrandedDelivery {
  id: string;
  subscriptionId: string;
  partitionKey: string;
  /** The delivery's lane as Postgres holds it; absent: normal. */
  priority?: Priority;
  /** Its event's `received_at` (epoch ms), as Postgres holds it: the message carries it, and its line row keeps it if it had none. */
  receivedAt?: number;
}

/**
 * Queues messages again for deliveries that are pending in Postgres but have had no message for a
 * while (one lost by a local queue broker on restart, or dead-lettered by the platform). A delivery
 * in flight on its ordered line is sent again as itself; one waiting behind another in-flight
 * delivery stays put, and that delivery is returned as a `blocker` for the caller to check; one in a
 * line with nothing in flight releases the line's head; any other is sent as an unordered delivery.
 */
export function redriveDeliveries(sql: SqlStorage, tenantId: string, stranded: readonly StrandedDelivery[]): { resent: number; blockers: StrandedDelivery[] } {
  let resent = 0;
  const blockers = new Map<string, StrandedDelivery>();
  for (const d of stranded) {
    // its own place in its line, if it has one: read once for every branch below
    const own = sql
      .exec<{ sequence: number; received_at: number | null }>(
        'SELECT sequence, received_at FROM ordered_line WHERE subscription_id = ? AND partition_key = ? AND delivery_id = ?',
        d.subscriptionId,
        d.partitionKey,
        d.id,
      )
      .toArray()[0];
    // a row from before the column (or a previous version's handoff) learns it here, for its release
    if (own && own.received_at === null && d.receivedAt !== undefined)
      sql.exec(
        'UPDATE ordered_line SET received_at = ? WHERE subscription_id = ? AND partition_key = ? AND delivery_id = ?',
        d.receivedAt,
        d.subscriptionId,
        d.partitionKey,
        d.id,
      );
    const inflight = inflightOf(sql, d.subscriptionId, d.partitionKey);
    if (inflight === d.id) {
      const receivedAt = d.receivedAt ?? own?.received_at ?? undefined;
      stage(sql, tenantId, { ...d, sequence: own?.sequence, ...(receivedAt !== undefined ? { receivedAt } : {}) });
      resent++;
      continue;
    }
    const waiting = own !== undefined;
    if (!waiting) {
      stage(sql, tenantId, { ...d, partitionKey: null });
      resent++;
    } else if (inflight) {
      // with its own lane, for a caller that sends it again (a breaker probe)
      const lane = sql
        .exec<{ priority: string | null; received_at: number | null }>(
          'SELECT priority, received_at FROM ordered_line WHERE subscription_id = ? AND partition_key = ? AND delivery_id = ?',
          d.subscriptionId,
          d.partitionKey,
          inflight,
        )
        .toArray()[0];
      blockers.set(inflight, {
        id: inflight,
        subscriptionId: d.subscriptionId,
        partitionKey: d.partitionKey,
        priority: priorityOf(lane?.priority) ?? 'normal',
        ...(lane?.received_at != null ? { receivedAt: lane.received_at } : {}),
      });
    } else {
      releaseHead(sql, tenantId, d.subscriptionId, d.partitionKey);
      resent++;
    }
  }
  return { resent, blockers: [...blockers.values()] };
}

/** The next staged messages to send: up to `limit` of the highest lane that has any, oldest first; null when none wait. */
export function pendingDispatch(sql: SqlStorage, limit: number): { lane: number; rows: { id: number; body: string }[] } | null {
  const first = sql.exec<{ lane: number }>('SELECT lane FROM dispatch ORDER BY lane, id LIMIT 1').toArray()[0];
  if (!first) return null;
  const rows = sql.exec<{ id: number; body: string }>('SELECT id, body FROM dispatch WHERE lane = ? ORDER BY id LIMIT ?', first.lane, limit).toArray();
  return { lane: first.lane, rows };
}

/** Forgets the messages of `lane` through `lastId` once the queue took them. */
export function dropDispatched(sql: SqlStorage, lane: number, lastId: number): void {
  sql.exec('DELETE FROM dispatch WHERE lane = ? AND id <= ?', lane, lastId);
}

export function dispatchDepth(sql: SqlStorage): number {
  return sql.exec<{ n: number }>('SELECT count(*) AS n FROM dispatch').one().n;
}

export function orderedDepth(sql: SqlStorage): number {
  return sql.exec<{ n: number }>('SELECT count(*) AS n FROM ordered_line').one().n;
}
