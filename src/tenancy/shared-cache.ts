/**
 * Tenant configuration in Redis, between isolate memory and Postgres, so a cold isolate resolves a
 * source and the tenant's rules without a database round trip. Values are the Postgres rows as read
 * (signing secrets stay AES-GCM sealed). Without Redis, or while it fails, loads go to Postgres.
 *
 * Correctness does not rest on the Redis copy: every row carries the tenant's `config_version`, and
 * a copy older than the TenantLog's version is caught on the next append (or by a failed signature
 * check, see `fresherSource`); the reload that follows skips Redis (`skipSharedOnce`) and overwrites
 * the copy. `invalidateTenantConfig` deletes a tenant's entries after every config change, so that
 * path is rare; entries also expire after `SHARED_TTL_SECONDS`.
 */
import type { Db } from '../db/client';
import { sourceIdsOfTenant } from '../db/sources';
import { redisConfigured, tryRedis, type RedisEnv } from '../lib/redis';

export const SHARED_TTL_SECONDS = 600;
const PREFIX = 'sy:v1:';
const MAX_SKIPS = 10_000;

export const sourceKey = (sourceId: string) => `${PREFIX}src:${sourceId}`;
export const rulesKey = (tenantId: string) => `${PREFIX}rules:${tenantId}`;

const skips = new Set<string>();

/** The next load of `key` in this isolate goes to Postgres (its Redis copy is suspected stale). */
export function skipSharedOnce(key: string): void {
  if (skips.size >= MAX_SKIPS) skips.clear();
  skips.add(key);
}

/**
 * The value of `key` from Redis when present and `usable`, else from `load` (then written to Redis in
 * the background). Null results are not shared.
 */
export async function throughShared<T extends object>(
  env: RedisEnv,
  key: string,
  load: () => Promise<T | null>,
  waitUntil: (p: Promise<unknown>) => void,
  usable: (value: T) => boolean = () => true,
): Promise<T | null> {
  if (!redisConfigured(env)) return load();
  if (!skips.delete(key)) {
    const hit = await tryRedis(env, 'config cache read', (redis) => redis.get<T>(key));
    if (hit?.value && typeof hit.value === 'object' && usable(hit.value)) return hit.value;
  }
  const value = await load();
  if (value !== null) waitUntil(tryRedis(env, 'config cache write', (redis) => redis.set(key, value, { ex: SHARED_TTL_SECONDS })));
  return value;
}

/** Drops a tenant's shared entries after a config change committed. */
export async function invalidateTenantConfig(env: RedisEnv, db: Db, tenantId: string, extraSourceIds: string[] = []): Promise<void> {
  if (!redisConfigured(env)) return;
  const keys = [rulesKey(tenantId), ...[...(await sourceIdsOfTenant(db, tenantId)), ...extraSourceIds].map(sourceKey)];
  const done = await tryRedis(env, 'config cache invalidation', (redis) => redis.del(...keys));
  if (!done) console.warn(JSON.stringify({ msg: 'shared config cache not invalidated; stale copies are caught by the config version', tenantId }));
}
