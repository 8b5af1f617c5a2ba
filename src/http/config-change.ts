import type { Context } from 'hono';
import { transaction } from '../db/client';
import { bumpConfigVersion } from '../db/tenants';
import { announceConfigVersion } from '../tenancy/config-change';
import { invalidateTenantConfig } from '../tenancy/shared-cache';
import type { AppEnv } from './context';

/**
 * Runs a management change that ingest or routing must honour: the change and the tenant's config
 * version bump commit together, then the tenant's Redis copies are dropped and its log learns the
 * new version.
 */
export async function changeConfig<T>(c: Context<AppEnv>, tenantId: string, work: () => Promise<T>, options: { sourceIds?: string[] } = {}): Promise<T> {
  const db = c.var.db;
  const { value, version } = await transaction(db, async () => ({ value: await work(), version: await bumpConfigVersion(db, tenantId) }));
  // `sourceIds`: sources the change removed, whose cached copies the tenant's listing no longer names
  await invalidateTenantConfig(c.env, db, tenantId, options.sourceIds);
  await announceConfigVersion(c.env, tenantId, version);
  return value;
}
