/**
 * The redrive sweep, run by the Cron Trigger: finds deliveries that are pending in Postgres but have
 * had no queue message for a while, and has each tenant's TenantLog send them again. Production
 * Queues keep messages durably, so there this is a safety net (a message dead-lettered by the
 * platform's own retry limit, a bug); under `wrangler dev`, whose queue broker keeps messages in
 * memory, it is what brings back the deliveries a restart dropped.
 *
 * Sending a delivery twice is harmless: the consumer's claim lets one attempt run at a time, and a
 * message for a finished delivery is acknowledged without an attempt.
 */
import { configOf, type ConfigVars } from '../config';
import type { Db } from '../db/client';
import { deliveryStatuses } from '../db/deliveries-consumer';
import { skipQuarantined, strandedDeliveries, touchDeliveries, type StrandedRow } from '../db/deliveries-redrive';
import { shardOfSequence } from '../tenancy/shard-routing';
import { finishOrderedLine, redriveOnShard } from '../tenancy/line-follow';

/** Deliveries per page of a sweep (this one and the schedule sweep's), oldest first. */
export const SWEEP_PAGE = 1000;
/** A sweep takes further pages while they come back full, for up to this long; the rest wait for the next run. */
export const SWEEP_BUDGET_MS = 20_000;

/**
 * Rows of a sweep by the log that sends them: their tenant's shard that holds their ordered line (the
 * shard of their event), each row as that log's `redrive` takes it, with its event's `received_at`
 * (the message sent carries it; a line row without one keeps it for its release).
 */
export function byLog<R extends StrandedRow>(rows: readonly R[]) {
  const groups = new Map<string, { tenantId: string; shard: number; rows: R[] }>();
  for (const row of rows) {
    const shard = shardOfSequence(row.event_sequence);
    const key = `${row.tenant_id}\n${shard}`;
    const group = groups.get(key) ?? { tenantId: row.tenant_id, shard, rows: [] };
    group.rows.push(row);
    groups.set(key, group);
  }
  return [...groups.values()].map((g) => ({
    ...g,
    deliveries: g.rows.map((r) => ({
      id: r.id,
      subscriptionId: r.subscription_id,
      partitionKey: r.partition_key,
      priority: r.priority,
      receivedAt: r.event_received_at,
    })),
  }));
}

export interface RedriveSummary {
  stranded: number;
  resent: number;
  /** Ordered lines whose in-flight delivery had finished without releasing the next one. */
  released: number;
  /** Deliveries whose event Postgres quarantined: finished as skipped instead of sent again. */
  skipped: number;
}

/** `REDRIVE_AFTER_SECONDS` (config.ts): how long past its due time a pending, unleased delivery may go untouched before it counts as stranded. */
export async function redriveStranded(db: Db, env: Pick<Env, 'TENANT_LOG'> & ConfigVars): Promise<RedriveSummary> {
  const afterSeconds = configOf(env).redriveAfterSeconds;
  const summary: RedriveSummary = { stranded: 0, resent: 0, released: 0, skipped: 0 };
  const until = Date.now() + SWEEP_BUDGET_MS;
  let page: number;
  do {
    // redriven deliveries are touched, so the next page holds others
    page = await redrivePage(db, env, afterSeconds, summary);
  } while (page === SWEEP_PAGE && Date.now() < until);
  // worth a warning: in production a stranded delivery means a queue message went missing
  if (summary.stranded > 0) console.warn(JSON.stringify({ msg: 'redrive', ...summary }));
  return summary;
}

/** Redrives one page; returns its size, or 0 when a tenant failed (its rows would come back on the next page). */

async function redrivePage(db: Db, env: Pick<Env, 'TENANT_LOG'>, afterSeconds: number, summary: RedriveSummary): Promise<number> {
  const rows = await strandedDeliveries(db, afterSeconds, SWEEP_PAGE);
  summary.stranded += rows.length;
  const skipped = await skipQuarantined(db, rows);
  summary.skipped += skipped.size;
  let failed = false;
  for (const { tenantId, shard, rows: stranded, deliveries } of byLog(rows.filter((r) => !skipped.has(r.id)))) {
    try {
      // lines moved by a shard-count change since are followed (tenancy/line-follow.ts)
      const { resent, blockers } = await redriveOnShard(env, tenantId, shard, deliveries);
      summary.resent += resent;
      // not stranded again until another full wait, even if the queue is slow to bring the message round
      await touchDeliveries(
        db,
        stranded.map((r) => r.id),
      );
      // a blocker that is no longer pending finished without its line hearing of it
      const statuses = new Map(
        (
          await deliveryStatuses(
            db,
            blockers.map((b) => b.id),
          )
        ).map((d) => [d.id, d.status]),
      );
      for (const blocker of blockers) {
        // a scheduled head is waiting for its time (src/delivery/schedule.ts), not finished
        const status = statuses.get(blocker.id);
        if (status === 'pending' || status === 'scheduled') continue;
        if (
          await finishOrderedLine(env, { tenantId, shard, subscriptionId: blocker.subscriptionId, partitionKey: blocker.partitionKey, deliveryId: blocker.id })
        )
          summary.released++;
      }
    } catch (error) {
      failed = true;
      console.error(JSON.stringify({ msg: 'redrive failed for a tenant', tenantId, deliveries: stranded.length, error: String(error) }));
    }
  }
  return failed ? 0 : rows.length;
}
