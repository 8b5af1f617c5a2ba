/**
 * Removes a deleted tenant's archive (`tenants/{t}/` in R2). `DELETE /v1/tenants/{t}` records the
 * tenant in `archive_purges` in the transaction that deletes its rows, then tries once at once
 * (`waitUntil`); the minute Cron job finishes what is left, so a purge cut short by a timeout, a
 * crash or an R2 error is resumed, never forgotten. A row goes only once a listing of the prefix
 * comes back empty. Bounded per run (PURGE_LIMITS): R2 deletes at most 1,000 keys a call.
 */
import type { Db } from '../db/client';

export const PURGE_LIMITS = { tenantsPerRun: 10, objectsPerRun: 20_000, runMs: 5_000 };

/** The R2 calls a purge needs (an `R2Bucket` has them). */
export type PurgeBucket = Pick<R2Bucket, 'list' | 'delete'>;

export interface PurgeOutcome {
  tenant_id: string;
  deleted: number;
  /** The prefix was found empty and the tenant's row removed. */
  finished: boolean;
}

/** Deletes up to `maxObjects` objects under the tenant's prefix; true when none is left. */
async function purgePrefix(bucket: PurgeBucket, tenantId: string, maxObjects: number, deadline: number): Promise<{ deleted: number; empty: boolean }> {
  let deleted = 0;
  while (deleted < maxObjects && Date.now() < deadline) {
    const page = await bucket.list({ prefix: `tenants/${tenantId}/`, limit: Math.min(1_000, maxObjects - deleted) });
    if (page.objects.length === 0) return { deleted, empty: true };
    await bucket.delete(page.objects.map((o) => o.key));
    deleted += page.objects.length;
  }
  return { deleted, empty: false };
}

/** Runs the purges that are due, oldest first, within the limits. */
export async function runArchivePurges(db: Db, bucket: PurgeBucket, limits = PURGE_LIMITS, only?: string): Promise<PurgeOutcome[]> {
  const deadline = Date.now() + limits.runMs;
  const due = (
    await db.query<{ tenant_id: string }>(
      only === undefined
        ? 'SELECT tenant_id FROM archive_purges ORDER BY requested_at LIMIT $1'
        : 'SELECT tenant_id FROM archive_purges WHERE tenant_id = $2 LIMIT $1',
      only === undefined ? [limits.tenantsPerRun] : [limits.tenantsPerRun, only],
    )
  ).rows;
  const outcomes: PurgeOutcome[] = [];
  let budget = limits.objectsPerRun;
  for (const { tenant_id } of due) {
    if (budget <= 0 || Date.now() >= deadline) break;
    const { deleted, empty } = await purgePrefix(bucket, tenant_id, budget, deadline);
    budget -= deleted;
    if (empty) await db.query('DELETE FROM archive_purges WHERE tenant_id = $1', [tenant_id]);
    else await db.query('UPDATE archive_purges SET objects_deleted = objects_deleted + $2 WHERE tenant_id = $1', [tenant_id, deleted]);
    outcomes.push({ tenant_id, deleted, finished: empty });
    if (deleted > 0) console.log(JSON.stringify({ msg: 'archive purge', tenantId: tenant_id, deleted, finished: empty }));
  }
  return outcomes;
}
