/**
 * The TenantLog's second outbox: queue messages that must be sent, kept in SQLite until the queue
 * accepted them, plus the per-(subscription, partition key) lines of ordered deliveries. An ordered
 * line has at most one delivery in flight; the next is released when the consumer reports that one
 * finished (delivered or given up). All functions run inside the caller's synchronous transaction.
 */
import type { PlannedDelivery } from '../delivery/fan-out';
import type { DeliveryMessage } from '../lib/queue-messages';

export const DISPATCH_SCHEMA = `
CREATE TABLE IF NOT EXISTS dispatch (id INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS ordered_line (
  subscription_id TEXT NOT NULL, partition_key TEXT NOT NULL, sequence INTEGER NOT NULL, delivery_id TEXT NOT NULL,
  PRIMARY KEY (subscription_id, partition_key, sequence)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ordered_inflight (
  subscription_id TEXT NOT NULL, partition_key TEXT NOT NULL, delivery_id TEXT NOT NULL,
  PRIMARY KEY (subscription_id, partition_key)
) WITHOUT ROWID;`;

function message(tenantId: string, d: { id: string; subscriptionId: string; partitionKey: string | null }): string {
  const body: DeliveryMessage = {
    type: 'delivery.v1',
    tenant_id: tenantId,
    delivery_id: d.id,
    subscription_id: d.subscriptionId,
    partition_key: d.partitionKey,
  };
  return JSON.stringify(body);
}

/** Queues unordered deliveries for sending and appends ordered ones to their lines. */
export function stageDeliveries(sql: SqlStorage, tenantId: string, planned: readonly PlannedDelivery[]): void {
  const lines = new Set<string>();
  for (const d of planned) {
    if (!d.ordered) {
      sql.exec('INSERT INTO dispatch (body) VALUES (?)', message(tenantId, { ...d, partitionKey: null }));
      continue;
    }
    sql.exec(
      'INSERT OR IGNORE INTO ordered_line (subscription_id, partition_key, sequence, delivery_id) VALUES (?, ?, ?, ?)',
      d.subscriptionId,
      d.partitionKey,
      d.sequence,
      d.id,
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

function releaseHead(sql: SqlStorage, tenantId: string, subscriptionId: string, partitionKey: string): void {
  if (inflightOf(sql, subscriptionId, partitionKey) !== undefined) return;
  const head = sql
    .exec<{ delivery_id: string }>(
      'SELECT delivery_id FROM ordered_line WHERE subscription_id = ? AND partition_key = ? ORDER BY sequence LIMIT 1',
      subscriptionId,
      partitionKey,
    )
    .toArray()[0];
  if (!head) return;
  sql.exec('INSERT INTO ordered_inflight (subscription_id, partition_key, delivery_id) VALUES (?, ?, ?)', subscriptionId, partitionKey, head.delivery_id);
  sql.exec('INSERT INTO dispatch (body) VALUES (?)', message(tenantId, { id: head.delivery_id, subscriptionId, partitionKey }));
}

export interface StrandedDelivery {
  id: string;
  subscriptionId: string;
  partitionKey: string;
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
    const inflight = inflightOf(sql, d.subscriptionId, d.partitionKey);
    if (inflight === d.id) {
      sql.exec('INSERT INTO dispatch (body) VALUES (?)', message(tenantId, d));
      resent++;
      continue;
    }
    const waiting =
      sql
        .exec('SELECT 1 FROM ordered_line WHERE subscription_id = ? AND partition_key = ? AND delivery_id = ?', d.subscriptionId, d.partitionKey, d.id)
        .toArray().length > 0;
    if (!waiting) {
      sql.exec('INSERT INTO dispatch (body) VALUES (?)', message(tenantId, { ...d, partitionKey: null }));
      resent++;
    } else if (inflight) {
      blockers.set(inflight, { id: inflight, subscriptionId: d.subscriptionId, partitionKey: d.partitionKey });
    } else {
      releaseHead(sql, tenantId, d.subscriptionId, d.partitionKey);
      resent++;
    }
  }
  return { resent, blockers: [...blockers.values()] };
}

export function pendingDispatch(sql: SqlStorage, limit: number): { id: number; body: string }[] {
  return sql.exec<{ id: number; body: string }>('SELECT id, body FROM dispatch ORDER BY id LIMIT ?', limit).toArray();
}

export function dispatchDepth(sql: SqlStorage): number {
  return sql.exec<{ n: number }>('SELECT count(*) AS n FROM dispatch').one().n;
}

export function orderedDepth(sql: SqlStorage): number {
  return sql.exec<{ n: number }>('SELECT count(*) AS n FROM ordered_line').one().n;
}
