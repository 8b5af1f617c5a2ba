/**
 * After a management change that ingest must honour commits (with `bumpConfigVersion` in the same
 * transaction), tell the tenant's log the new version: from then on an append made under an older
 * cached config is refused as stale and its isolate reloads. If this call fails, caches still expire
 * within their TTL.
 */
import { allShards, shardLog } from './shard-routing';
import { forgetTenantRules } from './tenant-rules';

/** Every shard of the tenant learns the version (`shards`: its shard count, tenancy/shard-routing.ts). */
export async function announceConfigVersion(env: Env, tenantId: string, { version, shards }: { version: number; shards: number }): Promise<void> {
  forgetTenantRules(tenantId);
  try {
    await Promise.all(allShards(shards).map((shard) => shardLog(env, tenantId, shard).setConfigVersion(version)));
  } catch (error) {
    console.warn(JSON.stringify({ msg: 'config version not announced; caches expire on their own', tenantId, version, error: String(error) }));
  }
}
