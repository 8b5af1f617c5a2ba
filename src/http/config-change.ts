import type { Context } from 'hono';
import { transaction } from '../db/client';
import { bumpConfigVersion } from '../db/tenants';
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
 * The bump comes first: it locks the tenant's row before `work` touches any other, so concurrent
 * changes of one tenant queue on that row in one order instead of deadlocking on each other's rows.
 * A change Postgres still rolls back for a concurrent one (40P01, 40001) is run again (it only wrote
 * to the database, and none of that stayed), up to `ATTEMPTS` runs; then the 503 `concurrent_change`.
 */
export async function changeConfig<T>(c: Context<AppEnv>, tenantId: string, work: () => Promise<T>, options: { sourceIds?: string[] } = {}): Promise<T> {
  const db = c.var.db;
  const once = () =>
    transaction(db, async () => {
      const version = await bumpConfigVersion(db, tenantId);
      return { value: await work(), version };
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
  const { value, version } = outcome;
  // `sourceIds`: sources the change removed, whose cached copies the tenant's listing no longer names
  await invalidateTenantConfig(c.env, db, tenantId, options.sourceIds);
  await announceConfigVersion(c.env, tenantId, version);
  return value;
}
