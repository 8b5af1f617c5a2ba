/**
 * One TenantLog per tenant: the single writer that deduplicates, sequences and durably records events
 * before ingest answers. The event and its outbox row are written in one synchronous SQLite
 * transaction, so the output gate releases the 202 only once both are on disk.
 *
 * An alarm drains the outbox: one Postgres statement stores a batch of events and the deliveries
 * they fan out to; then, in one SQLite transaction, the rows leave the outbox and the queue messages
 * to send are staged in `dispatch` (ordered deliveries wait in their line, one in flight per key).
 * Staged messages are sent with `sendBatch` and removed once the queue took them. Every step is
 * retried with backoff and idempotent, so a crash or an outage anywhere loses nothing. A row Postgres
 * refuses for its data is quarantined (store-batch.ts) instead of blocking the rows behind it; its
 * sequence stays taken.
 */
import { DurableObject } from 'cloudflare:workers';
import { compileRoutes, planDeliveries, type Route, type RoutedEvent } from '../delivery/fan-out';
import { sharedConnection, type SharedConnection } from '../db/shared-connection';
import type { OutboxRow } from '../db/events';
import type { QuarantinedEvent } from '../db/quarantine';
import { loadRouting } from '../db/subscriptions';
import { FLUSH_COALESCE_MS, flushBackoffMs } from '../ingest/flush-policy';
import { newId } from '../lib/ids';
import { DISPATCH_SCHEMA, dispatchDepth, finishOrdered, orderedDepth, pendingDispatch, redriveDeliveries, stageDeliveries, type StrandedDelivery } from './dispatch-store';
import type { AppendItem, AppendRequest, AppendResponse, AppendResult, LogStatus } from './log-types';
import { keepRefused, keptCount, listKept, QUARANTINE_SCHEMA } from './quarantine-store';
import { storeBatch, type OutboxReader, type Slice } from './store-batch';

export const FLUSH_BATCH = 1000;
/** A batch also stops once its events pass this many characters (the first event always goes), to bound the isolate's memory. */
const FLUSH_CHARS = 4 * 1024 * 1024;
/** Under a backlog one alarm keeps flushing batches for up to this long, instead of paying an alarm per batch. */
const FLUSH_SLICE_MS = 1_000;
const SEND_BATCH = 100;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS dedup (
  source_id TEXT NOT NULL, ce_id TEXT NOT NULL, sha256 TEXT NOT NULL, id TEXT NOT NULL,
  sequence INTEGER NOT NULL, expires_at INTEGER NOT NULL, PRIMARY KEY (source_id, ce_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS dedup_expiry ON dedup (expires_at);
CREATE TABLE IF NOT EXISTS outbox (
  sequence INTEGER PRIMARY KEY, id TEXT NOT NULL, source_id TEXT NOT NULL, ce_id TEXT NOT NULL,
  type TEXT NOT NULL, subject TEXT, time TEXT, partition_key TEXT, correlation_id TEXT,
  causation_id TEXT, event TEXT NOT NULL, sha256 TEXT NOT NULL, received_at INTEGER NOT NULL
);
${DISPATCH_SCHEMA}
${QUARANTINE_SCHEMA}`;

/** One outbox row as the JSON `insertEvents` takes, the stored event text spliced in unparsed. */
const ROW_JSON = `'{"sequence":' || sequence || ',"id":' || json_quote(id) || ',"source_id":' || json_quote(source_id) ||
  ',"ce_id":' || json_quote(ce_id) || ',"type":' || json_quote(type) || ',"subject":' || json_quote(subject) ||
  ',"time":' || json_quote(time) || ',"partition_key":' || json_quote(partition_key) ||
  ',"correlation_id":' || json_quote(correlation_id) || ',"causation_id":' || json_quote(causation_id) ||
  ',"sha256":' || json_quote(sha256) || ',"received_at":' || received_at || ',"event":' || event || '}'`;

interface DedupRow extends Record<string, SqlStorageValue> {
  source_id: string;
  ce_id: string;
  sha256: string;
  id: string;
  sequence: number;
}

const dedupKey = (sourceId: string, ceId: string) => `${sourceId}\n${ceId}`;

export class TenantLog extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private lastSequence = 0;
  private tenantId: string | null = null;
  private configVersion = 0;
  private routes: { version: number; routes: Route[] } | null = null;
  /** Kept open between flushes (a Durable Object may reuse I/O across its requests): one round trip per batch. */
  private readonly postgres: SharedConnection;
  private flushScheduled = false;
  private flushFailures = 0;
  private nextFlushAt: number | null = null;
  /** Set once the tenant is deleted: appends are refused and nothing more is flushed. */
  private deleted = false;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.postgres = sharedConnection(env);
    this.sql.exec(SCHEMA);
    for (const row of this.sql.exec<{ key: string; value: string }>('SELECT key, value FROM meta')) {
      if (row.key === 'last_sequence') this.lastSequence = Number(row.value);
      if (row.key === 'tenant_id') this.tenantId = row.value;
      if (row.key === 'config_version') this.configVersion = Number(row.value);
      if (row.key === 'deleted') this.deleted = true;
    }
    ctx.blockConcurrencyWhile(async () => {
      const alarm = await ctx.storage.getAlarm();
      this.flushScheduled = alarm !== null;
      this.nextFlushAt = alarm;
      if (!this.flushScheduled && this.hasWork()) await this.scheduleFlush(Date.now());
    });
  }

  /**
   * Dedups, sequences and records a batch in one transaction. Results come back in input order.
   * Same (source, id) and same hash inside the window: the original sequence with `duplicate`;
   * a different hash: `conflict`. An append made under an older tenant config than the log has seen
   * is refused as `stale` without writing anything.
   */
  async append(request: AppendRequest): Promise<AppendResponse> {
    if (this.deleted) return { kind: 'gone' };
    if (request.configVersion < this.configVersion) return { kind: 'stale', configVersion: this.configVersion };
    if (request.configVersion > this.configVersion) this.setConfigVersion(request.configVersion);
    return { kind: 'appended', results: await this.record(request.tenantId, request.dedupWindowSeconds, request.items) };
  }

  /** Events Switchyard itself emits (`switchyard.delivery.exhausted`, …): no config check. */
  async appendSystem(tenantId: string, items: AppendItem[]): Promise<AppendResult[]> {
    if (this.deleted) return [];
    return this.record(tenantId, 86_400, items);
  }

  /**
   * The tenant is being deleted: from now on appends answer `gone`, and what has not reached Postgres
   * (outbox, staged queue messages, ordered lines, dedup keys) is dropped with it. Idempotent.
   */
  async deleteTenant(): Promise<void> {
    this.deleted = true;
    this.ctx.storage.transactionSync(() => {
      this.sql.exec("INSERT OR REPLACE INTO meta (key, value) VALUES ('deleted', '1')");
      for (const table of ['outbox', 'dedup', 'dispatch', 'ordered_line', 'ordered_inflight', 'quarantine']) this.sql.exec(`DELETE FROM ${table}`);
    });
    await this.ctx.storage.deleteAlarm();
    this.flushScheduled = false;
    this.nextFlushAt = null;
  }

  /** Called after a management change commits, so every isolate's next append notices it. */
  setConfigVersion(version: number): void {
    if (version <= this.configVersion) return;
    this.configVersion = version;
    this.sql.exec("INSERT OR REPLACE INTO meta (key, value) VALUES ('config_version', ?)", String(version));
  }

  /** The consumer reports that an ordered delivery ended; the next one of its line is released. */
  async finishOrdered(subscriptionId: string, partitionKey: string, deliveryId: string): Promise<boolean> {
    const released = this.ctx.storage.transactionSync(() => finishOrdered(this.sql, this.requireTenant(), subscriptionId, partitionKey, deliveryId));
    if (released) await this.drainDispatch();
    return released;
  }

  /** Sends stranded deliveries again (see `redriveDeliveries`); returns in-flight deliveries that block them. */
  async redrive(stranded: StrandedDelivery[]): Promise<{ resent: number; blockers: StrandedDelivery[] }> {
    const outcome = this.ctx.storage.transactionSync(() => redriveDeliveries(this.sql, this.requireTenant(), stranded));
    if (outcome.resent > 0) await this.drainDispatch();
    return outcome;
  }

  /** Replays into ordered subscriptions go through the lines like fresh deliveries. */
  async stageOrdered(planned: Parameters<typeof stageDeliveries>[2]): Promise<void> {
    this.ctx.storage.transactionSync(() => stageDeliveries(this.sql, this.requireTenant(), planned));
    await this.drainDispatch();
  }

  status(): LogStatus {
    return {
      tenantId: this.tenantId,
      lastSequence: this.lastSequence,
      configVersion: this.configVersion,
      outboxDepth: this.outboxDepth(),
      dispatchDepth: dispatchDepth(this.sql),
      orderedDepth: orderedDepth(this.sql),
      flushFailures: this.flushFailures,
      nextFlushAt: this.nextFlushAt,
      quarantined: keptCount(this.sql),
    };
  }

  override async alarm(): Promise<void> {
    if (this.deleted) return;
    this.flushScheduled = false;
    this.nextFlushAt = null;
    let backlog = false;
    try {
      const until = Date.now() + FLUSH_SLICE_MS;
      do {
        backlog = await this.flushOutbox();
        await this.drainDispatch();
      } while (backlog && Date.now() < until);
      this.flushFailures = 0;
    } catch (error) {
      this.flushFailures++;
      const delay = flushBackoffMs(this.flushFailures);
      console.warn(JSON.stringify({ msg: 'outbox flush failed', tenantId: this.tenantId, failures: this.flushFailures, retryInMs: delay, error: String(error) }));
      await this.scheduleFlush(Date.now() + delay);
      return;
    }
    this.sql.exec('DELETE FROM dedup WHERE expires_at <= ?', Date.now());
    // what arrived during the flush waits a moment for company, unless a backlog is being worked off
    if (!this.flushScheduled && this.hasWork()) await this.scheduleFlush(Date.now() + (backlog ? 0 : FLUSH_COALESCE_MS));
  }

  private async record(tenantId: string, dedupWindowSeconds: number, items: AppendItem[]): Promise<AppendResult[]> {
    const now = Date.now();
    const expiresAt = now + dedupWindowSeconds * 1000;
    const before = this.lastSequence;
    let results: AppendResult[];
    try {
      // set-based: one dedup lookup and two inserts per append whatever the batch size, instead of
      // three statements per event; SQLite reads the rows out of one JSON parameter, and CROSS JOIN
      // keeps it probing the dedup key once per incoming event
      results = this.ctx.storage.transactionSync(() => {
        if (this.tenantId === null) {
          this.sql.exec("INSERT OR REPLACE INTO meta (key, value) VALUES ('tenant_id', ?)", tenantId);
          this.tenantId = tenantId;
        }
        const seen = new Map<string, DedupRow>();
        const keys = JSON.stringify(items.map((item) => [item.sourceId, item.ceId]));
        for (const row of this.sql.exec<DedupRow>(
          `SELECT d.source_id, d.ce_id, d.sha256, d.id, d.sequence FROM json_each(?) AS k
           CROSS JOIN dedup AS d ON d.source_id = k.value ->> 0 AND d.ce_id = k.value ->> 1 WHERE d.expires_at > ?`,
          keys, now,
        )) {
          seen.set(dedupKey(row.source_id, row.ce_id), row);
        }
        const fresh: (string | number | null)[][] = [];
        const out = items.map((item): AppendResult => {
          const key = dedupKey(item.sourceId, item.ceId);
          const earlier = seen.get(key);
          if (earlier) {
            return earlier.sha256 === item.sha256
              ? { kind: 'accepted', id: earlier.id, sequence: earlier.sequence, duplicate: true }
              : { kind: 'conflict', id: earlier.id, sequence: earlier.sequence };
          }
          const sequence = ++this.lastSequence;
          const id = newId('evt', now);
          // a repeat of this id later in the same batch is a duplicate of this one
          seen.set(key, { source_id: item.sourceId, ce_id: item.ceId, sha256: item.sha256, id, sequence });
          fresh.push([sequence, id, item.sourceId, item.ceId, item.type, item.subject, item.time, item.partitionKey, item.correlationId, item.causationId, item.json, item.sha256]);
          return { kind: 'accepted', id, sequence, duplicate: false };
        });
        if (fresh.length > 0) {
          const rows = JSON.stringify(fresh);
          this.sql.exec(
            `INSERT OR REPLACE INTO dedup (source_id, ce_id, sha256, id, sequence, expires_at)
             SELECT value ->> 2, value ->> 3, value ->> 11, value ->> 1, value ->> 0, ? FROM json_each(?)`,
            expiresAt, rows,
          );
          this.sql.exec(
            `INSERT INTO outbox (sequence, id, source_id, ce_id, type, subject, time, partition_key, correlation_id, causation_id, event, sha256, received_at)
             SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6, value ->> 7, value ->> 8, value ->> 9, value ->> 10, value ->> 11, ?
             FROM json_each(?)`,
            now, rows,
          );
          this.sql.exec("INSERT OR REPLACE INTO meta (key, value) VALUES ('last_sequence', ?)", String(this.lastSequence));
        }
        return out;
      });
    } catch (error) {
      this.lastSequence = before;
      throw error;
    }
    if (this.lastSequence !== before && !this.flushScheduled) await this.scheduleFlush(now + FLUSH_COALESCE_MS);
    return results;
  }

  /**
   * Stores one batch of events and their deliveries in Postgres, then stages the queue messages;
   * true when more was waiting than one batch takes. SQLite itself writes the batch as the JSON
   * Postgres reads, splicing in the stored event text unparsed (one value crosses into JS, not
   * thirteen per row); rows for routing are read only when there are routes. Rows Postgres refuses
   * leave the outbox for the quarantine, without deliveries, and their dedup keys are dropped, so a
   * resend is not told `duplicate` about an event that was never stored.
   */
  private async flushOutbox(): Promise<boolean> {
    const tenantId = this.tenantId;
    const batch = this.sql
      .exec<{ n: number; first: number | null; last: number | null; events: string }>(
        `SELECT count(*) AS n, min(sequence) AS first, max(sequence) AS last, '[' || group_concat(${ROW_JSON}, ',') || ']' AS events
         FROM (SELECT *, sum(length(event)) OVER (ORDER BY sequence ROWS UNBOUNDED PRECEDING) - length(event) AS before
                 FROM (SELECT * FROM outbox ORDER BY sequence LIMIT ${FLUSH_BATCH}))
        WHERE before < ${FLUSH_CHARS}`,
      )
      .one();
    if (batch.n === 0 || batch.first === null || batch.last === null || !tenantId) return false;
    const { first, last } = batch;
    // more than this batch was already waiting (read before any await lets new appends in)
    const backlog = this.sql.exec('SELECT 1 FROM outbox WHERE sequence > ? LIMIT 1', last).toArray().length > 0;
    const planned = await this.postgres.use(async (db) => {
      if (!this.routes || this.routes.version < this.configVersion) {
        const routing = await loadRouting(db, tenantId);
        this.routes = { version: routing.version, routes: compileRoutes(routing.subscriptions) };
      }
      const { routes } = this.routes;
      const deliveries = routes.length > 0 ? await planDeliveries(this.routedEvents(last, routes.some((r) => r.test !== null)), routes) : [];
      const stored = await storeBatch(db, tenantId, { n: batch.n, first, last, events: batch.events }, deliveries, this.outboxReader());
      return { deliveries, ...stored };
    });
    // the tenant was deleted while this batch was on its way; its deliveries are not staged
    if (this.deleted) return false;
    const { through, refused } = planned;
    const refusedAt = new Set(refused.map((r) => r.sequence));
    const staged = through === last && refusedAt.size === 0 ? planned.deliveries : planned.deliveries.filter((d) => d.sequence <= through && !refusedAt.has(d.sequence));
    const now = Date.now();
    this.ctx.storage.transactionSync(() => {
      for (const r of refused) {
        this.sql.exec('DELETE FROM dedup WHERE (source_id, ce_id) IN (SELECT source_id, ce_id FROM outbox WHERE sequence = ?) AND sequence = ?', r.sequence, r.sequence);
        if (r.heldBy === 'tenant_log') keepRefused(this.sql, r.sequence, r.error, r.sqlstate, now);
      }
      this.sql.exec('DELETE FROM outbox WHERE sequence <= ?', through);
      stageDeliveries(this.sql, tenantId, staged);
    });
    // a flush that stopped at a refused row goes on with the rows after it right away
    return backlog || through < last;
  }

  /** Refused events this log keeps itself (Postgres could not take them even as text), after `afterSequence`. */
  quarantined(afterSequence = 0, limit = 100): QuarantinedEvent[] {
    return listKept(this.sql, afterSequence, limit);
  }

  /** Reads slices and rows of the outbox for `storeBatch` when a batch has to be split. */
  private outboxReader(): OutboxReader {
    return {
      slice: (from, to) => {
        const s = this.sql
          .exec<{ n: number; first: number | null; last: number | null; events: string | null }>(
            `SELECT count(*) AS n, min(sequence) AS first, max(sequence) AS last, '[' || group_concat(${ROW_JSON}, ',') || ']' AS events
               FROM (SELECT * FROM outbox WHERE sequence BETWEEN ? AND ? ORDER BY sequence)`,
            from, to,
          )
          .one();
        return { n: s.n, first: s.first ?? from, last: s.last ?? to, events: s.events ?? '[]' } satisfies Slice;
      },
      ids: (from, to) => new Map(this.sql.exec<{ sequence: number; id: string }>('SELECT sequence, id FROM outbox WHERE sequence BETWEEN ? AND ?', from, to).toArray().map((r) => [r.sequence, r.id])),
      row: (sequence) => this.sql.exec<OutboxRow>('SELECT * FROM outbox WHERE sequence = ?', sequence).one(),
    };
  }

  /** The outbox rows up to `last` as routing sees them; the event text only when a filter needs it. */
  private routedEvents(last: number, withEvent: boolean): RoutedEvent[] {
    return this.sql
      .exec<RoutedEvent & Record<string, SqlStorageValue>>(
        `SELECT id, sequence, type, subject, partition_key, ${withEvent ? 'event' : "'' AS event"} FROM outbox WHERE sequence <= ? ORDER BY sequence`,
        last,
      )
      .toArray();
  }

  private async drainDispatch(): Promise<void> {
    for (let batch = pendingDispatch(this.sql, SEND_BATCH); batch.length > 0; batch = pendingDispatch(this.sql, SEND_BATCH)) {
      await this.env.DELIVERY_QUEUE.sendBatch(batch.map((m) => ({ body: JSON.parse(m.body) as unknown, contentType: 'json' as const })));
      this.sql.exec('DELETE FROM dispatch WHERE id <= ?', batch[batch.length - 1]!.id);
    }
  }

  private requireTenant(): string {
    if (!this.tenantId) throw new Error('this TenantLog has recorded no events yet');
    return this.tenantId;
  }

  /** Existence, not a count: this runs after every alarm, and a count would scan the whole backlog. */
  private hasWork(): boolean {
    return this.sql.exec<{ busy: number }>('SELECT EXISTS (SELECT 1 FROM outbox) OR EXISTS (SELECT 1 FROM dispatch) AS busy').one().busy === 1;
  }

  private outboxDepth(): number {
    return this.sql.exec<{ n: number }>('SELECT count(*) AS n FROM outbox').one().n;
  }

  private async scheduleFlush(at: number): Promise<void> {
    this.flushScheduled = true;
    this.nextFlushAt = at;
    await this.ctx.storage.setAlarm(at);
  }
}
