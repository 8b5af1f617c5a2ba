/**
 * The schedule sweep, run by the Cron Trigger beside the redrive: releases scheduled deliveries that
 * are due (src/delivery/schedule.ts). Each becomes pending and, unless its subscription holds it (a
 * pause, an open breaker), is sent through its tenant's TenantLog as the redrive sends a stranded one,
 * so an ordered line's delivery goes out only in its turn. If that send fails, the delivery is pending
 * and untouched: the redrive sweep sends it within REDRIVE_AFTER_SECONDS.
 */
import type { Db } from '../db/client';
import { releaseDue } from '../db/deliveries-schedule';
import { redriveOnShard } from '../tenancy/line-follow';
import { byLog, SWEEP_BUDGET_MS, SWEEP_PAGE } from './redrive';

export interface ScheduleSummary {
  due: number;
  sent: number;
  /** Due while their subscription holds them: pending now, released by the resume or the breaker's close. */
  held: number;
}

export async function releaseScheduled(db: Db, env: Pick<Env, 'TENANT_LOG'>): Promise<ScheduleSummary> {
  const summary: ScheduleSummary = { due: 0, sent: 0, held: 0 };
  const until = Date.now() + SWEEP_BUDGET_MS;
  let page: number;
  do {
    const rows = await releaseDue(db, SWEEP_PAGE);
    page = rows.length;
    summary.due += rows.length;
    summary.held += rows.filter((r) => r.held).length;
    for (const { tenantId, shard, deliveries } of byLog(rows.filter((r) => !r.held))) {
      try {
        const { resent } = await redriveOnShard(env, tenantId, shard, deliveries);
        summary.sent += resent;
      } catch (error) {
        console.error(
          JSON.stringify({ msg: 'releasing scheduled deliveries failed for a tenant', tenantId, deliveries: deliveries.length, error: String(error) }),
        );
      }
    }
  } while (page === SWEEP_PAGE && Date.now() < until);
  if (summary.due > 0) console.log(JSON.stringify({ msg: 'scheduled deliveries released', ...summary }));
  return summary;
}
