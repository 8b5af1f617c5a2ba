import type { Context } from 'hono';
import { transaction } from '../db/client';
import { bumpConfigVersion, lockTenantRow } from '../db/tenants';
import { announceConfigVersion } from '../tenancy/config-change';
import { invalidateTenantConfig } from '../tenancy/shared-cache';
import type { AppEnv } from './context';
import { isConcurrencyRollback } from './database-refusal';

/** Runs of a change that a deadlock or serialization failure rolled back before the 503 is answered. */
const ATTEMPTS = 3;

/**
 * Runs a management change that ingest or routing must honour: the change and the tenant's config
 * version bump commit together, then the tenant's Redis copies are dropped and its log learns the
 * new version.
 *
 * The tenant's row is locked first, before `work` touches any other, so concurrent changes of one
 * tenant queue on that row in one order instead of deadlocking on each other's rows.
 * A change Postgres still rolls back for a concurrent one (40P01, 40001) is run again, up to
 * `ATTEMPTS` runs, then the 503 `concurrent_change`: nothing of its database writes stayed, and
 * `work` does nothing else that a second run would repeat differently (a shard-count change asks the
 * logs to switch to a count, which is the same request again).
 */
export async function changeConfig<T>(c: Context<AppEnv>, tenantId: string, work: () => Promise<T>, options: { sourceIds?: string[] } = {}): Promise<T> {
  const db = c.var.db;
  const once = () =>
    transaction(db, async () => {
      const shardsBefore = await lockTenantRow(db, tenantId);
      const value = await work();
      const bumped = await bumpConfigVersion(db, tenantId);
      // a change of the shard count is announced to every shard of the larger count: a shard left out
      // of the new count must refuse what isolates still routing by the old one send it
      return { value, bumped: { ...bumped, shards: Math.max(shardsBefore, bumped.shards) } };
    });
  let outcome: Awaited<ReturnType<typeof once>>;
  for (let attempt = 1; ; attempt++) {
    try {
      outcome = await once();
      break;
    } catch (error) {
      if (attempt >= ATTEMPTS || !isConcurrencyRollback(error)) throw error;
    }
  }
  const { value, bumped } = outcome;
  // `sourceIds`: sources the change removed, whose cached copies the tenant's listing no longer names
  await invalidateTenantConfig(c.env, db, tenantId, options.sourceIds);
  await announceConfigVersion(c.env, tenantId, bumped);
  return value;
}
