/**
 * One step of the TenantLog's flush alarm: `flushOutbox` stores a batch of the outbox in Postgres
 * with the deliveries it fans out to (one statement, store-batch.ts) and then, in one SQLite
 * transaction, drops the batch from the outbox and stages its queue messages; `drainDispatch` sends
 * the staged messages. The tenant's compiled routes are cached between flushes (`RouteCache`). How
 * often and how long the alarm flushes, and its backoff, stay in tenant-log.ts.
 */
import type { SharedConnection } from '../db/shared-connection';
import { loadRouting } from '../db/subscriptions';
import { compileRoutes, planDeliveries, type Route } from '../delivery/fan-out';
import { laneQueue, rankPriority } from '../delivery/lanes';
import { queueDelaySeconds, scheduleDeliveries, sentAtFlush } from '../delivery/schedule';
import { dropDispatched, pendingDispatch, stageDeliveries } from './dispatch-store';
import { dropFlushed, encodeOutbox, hasRowsAfter, outboxReader, routedEvents } from './outbox-store';
import { storeBatch } from './store-batch';

export const FLUSH_BATCH = 1000;
/** A batch also stops once its events pass this many characters (the first event always goes), to bound the isolate's memory. */
export const FLUSH_CHARS = 4 * 1024 * 1024;
const SEND_BATCH = 100;

/** The tenant's routes, compiled at the config version they were read at; reloaded once the log has seen a newer one. */
export interface RouteCache {
  compiled: { version: number; routes: Route[] } | null;
}

/** What a flush needs of its TenantLog. */
export interface FlushHost {
  ctx: DurableObjectState;
  sql: SqlStorage;
  postgres: SharedConnection;
  routes: RouteCache;
  /** The tenant the log recorded (null: it recorded no events yet). */
  tenantId: string | null;
  configVersion(): number;
  deleted(): boolean;
}

/**
 * Stores one batch of events and their deliveries in Postgres, then stages the queue messages;
 * true when more was waiting than one batch takes. Rows for routing are read only when there are
 * routes. Rows Postgres refuses leave the outbox for the quarantine, without deliveries.
 */
export async function flushOutbox(host: FlushHost): Promise<boolean> {
  const { sql, tenantId } = host;
  const batch = encodeOutbox(sql, { oldest: FLUSH_BATCH, maxChars: FLUSH_CHARS });
  if (batch.n === 0 || !tenantId) return false;
  const { last } = batch;
  // more than this batch was already waiting (read before any await lets new appends in)
  const backlog = hasRowsAfter(sql, last);
  const planned = await host.postgres.use(async (db) => {
    if (!host.routes.compiled || host.routes.compiled.version < host.configVersion()) {
      const routing = await loadRouting(db, tenantId);
      host.routes.compiled = { version: routing.version, routes: compileRoutes(routing.subscriptions) };
    }
    const { routes } = host.routes.compiled;
    const events =
      routes.length > 0
        ? routedEvents(
            sql,
            last,
            routes.some((r) => r.test !== null),
          )
        : [];
    // a delivery that must wait (`deliverat`, `delay_seconds`) is stored scheduled (src/delivery/schedule.ts)
    const deliveries = routes.length > 0 ? scheduleDeliveries(await planDeliveries(events, routes), events, routes, Date.now()) : [];
    const stored = await storeBatch(db, tenantId, batch, deliveries, outboxReader(sql));
    return { deliveries, ...stored };
  });
  // the tenant was deleted while this batch was on its way; its deliveries are not staged
  if (host.deleted()) return false;
  const { through, refused } = planned;
  const refusedAt = new Set(refused.map((r) => r.sequence));
  const staged =
    through === last && refusedAt.size === 0 ? planned.deliveries : planned.deliveries.filter((d) => d.sequence <= through && !refusedAt.has(d.sequence));
  const now = Date.now();
  host.ctx.storage.transactionSync(() => {
    dropFlushed(sql, through, refused, now);
    // a wait longer than the queue holds is left to the schedule sweep
    stageDeliveries(
      sql,
      tenantId,
      staged.filter((d) => sentAtFlush(d, now)),
    );
  });
  // a flush that stopped at a refused row goes on with the rows after it right away
  return backlog || through < last;
}

/** Sends the staged messages, each to its priority lane's queue, the highest lane first (see dispatch-store.ts). */
export async function drainDispatch(sql: SqlStorage, env: Env): Promise<void> {
  for (let batch = pendingDispatch(sql, SEND_BATCH); batch; batch = pendingDispatch(sql, SEND_BATCH)) {
    const queue = laneQueue(env, rankPriority(batch.lane));
    const now = Date.now();
    await queue.sendBatch(
      batch.rows.map((m) => {
        const body = JSON.parse(m.body) as { not_before?: number };
        // a scheduled delivery's message waits out the rest of its delay in the queue (src/delivery/schedule.ts)
        return { body, contentType: 'json' as const, delaySeconds: queueDelaySeconds(body, now) };
      }),
    );
    dropDispatched(sql, batch.lane, batch.rows[batch.rows.length - 1]!.id);
  }
}
