/**
 * Source → tenant resolution for ingest, cached in isolate memory so the hot path does not touch
 * Postgres, then in Redis when configured (shared-cache.ts), then read from Postgres. Entries live
 * `SOURCE_TTL_MS`; unknown ids are remembered briefly so a flood of bad ids cannot turn into a flood
 * of queries. A copy carries its secrets' expiry times, so a rotated-out secret stops verifying when
 * its grace period ends even if the copy is older (`activeSecrets`).
 */
import { withDb } from '../db/client';
import { findSourceForIngest, type SourceForIngest } from '../db/sources';
import { open } from '../lib/secret-box';
import { sourceRateLimits, type RateLimits } from '../ratelimit/limits';
import { skipSharedOnce, sourceKey, throughShared } from './shared-cache';
import { verifierType } from '../plugins/registry';
import { shardLog } from './shard-routing';
import type { VerifierPlugin } from '../plugins/types';

export const SOURCE_TTL_MS = 30_000;
const MISSING_TTL_MS = 5_000;
const MAX_ENTRIES = 10_000;

export interface ResolvedSource {
  id: string;
  tenantId: string;
  dedupWindowSeconds: number;
  configVersion: number;
  verifier: VerifierPlugin<unknown>;
  verifierConfig: unknown;
  /** Newest first; use `activeSecrets`, which drops the ones whose grace period ended. */
  secrets: string[];
  secretExpiresAt: (number | null)[];
  rateLimits: RateLimits;
  /** May send `priority: critical` events (README "Priorities"). */
  allowCritical: boolean;
  /** How many TenantLogs the tenant's events are spread over (tenancy/shard-routing.ts). */
  shards: number;
  /** The epoch of the newest shard-count change, and while it moves keys the count it moves from (sharding.md §4); else null. */
  shardEpoch: number;
  movingFrom: number | null;
}

// Resolved copies only: an in-flight load is never shared between requests, because workerd does not
// let one request wait on I/O another request started (it can hang or fail with "Cannot perform I/O
// on behalf of a different request"). A cold burst costs one lookup per request, once.
type Entry = { expires: number; value: ResolvedSource | null };
const cache = new Map<string, Entry>();

/**
 * Resolves a source, from memory when fresh. When Postgres cannot be reached and an older copy is
 * known, the older copy keeps serving (ingest stays up through a database outage); otherwise the
 * error propagates and the caller answers 503.
 */
export async function resolveSource(env: Env, sourceId: string, waitUntil: (p: Promise<unknown>) => void, minVersion = 0): Promise<ResolvedSource | null> {
  const hit = cache.get(sourceId);
  if (hit && hit.expires > Date.now()) return hit.value;
  let value: ResolvedSource | null;
  try {
    value = await load(env, sourceId, waitUntil, minVersion);
  } catch (error) {
    if (hit?.value) return hit.value;
    throw error;
  }
  if (!hit && cache.size >= MAX_ENTRIES) cache.delete(cache.keys().next().value!);
  cache.set(sourceId, { expires: Date.now() + (value ? SOURCE_TTL_MS : MISSING_TTL_MS), value });
  return value;
}

/** Drops this isolate's copy; the next load also skips the Redis copy, which may be just as old. */
export function forgetSource(sourceId: string): void {
  cache.delete(sourceId);
  skipSharedOnce(sourceKey(sourceId));
}

export function activeSecrets(source: ResolvedSource, now: number): string[] {
  return source.secrets.filter((_, i) => {
    const expiresAt = source.secretExpiresAt[i];
    return expiresAt === null || expiresAt === undefined || expiresAt > now;
  });
}

export const RECHECKS_PER_SECOND = 4;
type Recheck = { tokens: number; at: number };
const rechecks = new Map<string, Recheck>();

/**
 * After a refusal (a signature that does not verify, a rate limit): when the tenant's log has seen a
 * newer config than this copy was made under (a secret rotated, a limit raised meanwhile), reloads the
 * source and returns the new copy; null when the copy is current. Each source gets a small budget of
 * checks per isolate (a burst of `RECHECKS_PER_SECOND`, refilled at that rate), so a flood of bad
 * requests cannot become a flood of lookups.
 */
export function fresherSource(env: Env, source: ResolvedSource, waitUntil: (p: Promise<unknown>) => void): Promise<ResolvedSource | null> {
  const now = Date.now();
  let recheck = rechecks.get(source.id);
  if (!recheck) {
    if (rechecks.size >= MAX_ENTRIES) rechecks.clear();
    recheck = { tokens: RECHECKS_PER_SECOND, at: now };
    rechecks.set(source.id, recheck);
  }
  recheck.tokens = Math.min(RECHECKS_PER_SECOND, recheck.tokens + ((now - recheck.at) / 1000) * RECHECKS_PER_SECOND);
  recheck.at = now;
  if (recheck.tokens < 1) return Promise.resolve(null);
  recheck.tokens -= 1;
  return (async () => {
    // every shard learns every version (config-change.ts), so shard 0 speaks for all
    const { configVersion } = await shardLog(env, source.tenantId, 0).status();
    if (configVersion <= source.configVersion) return null;
    forgetSource(source.id);
    const fresh = await resolveSource(env, source.id, waitUntil, configVersion);
    return fresh && fresh.configVersion > source.configVersion ? fresh : null;
  })().catch(() => null);
}

async function load(env: Env, sourceId: string, waitUntil: (p: Promise<unknown>) => void, minVersion: number): Promise<ResolvedSource | null> {
  const row = await throughShared<SourceForIngest>(
    env,
    sourceKey(sourceId),
    () => withDb(env, (db) => findSourceForIngest(db, sourceId), waitUntil),
    waitUntil,
    (cached) => Number(cached.config_version) >= minVersion,
  );
  if (!row) return null;
  const verifier = verifierType(row.verifier_type);
  if (!verifier) throw new Error(`source ${row.id} names unknown verifier type ${row.verifier_type}`);
  return {
    id: row.id,
    tenantId: row.tenant_id,
    dedupWindowSeconds: row.dedup_window_seconds,
    configVersion: Number(row.config_version),
    verifier,
    verifierConfig: verifier.config.parse(row.verifier_config),
    secrets: await Promise.all(row.sealed_secrets.map((sealed) => open(env.ENCRYPTION_KEY, sealed))),
    secretExpiresAt: row.sealed_secrets.map((_, i) => row.secret_expires_at?.[i] ?? null),
    rateLimits: sourceRateLimits(row.rate_limits, row.source_rate_limit),
    allowCritical: row.allow_critical === true,
    shards: row.shards ?? 1,
    shardEpoch: row.shard_epoch ?? 0,
    movingFrom: row.moving_from ?? null,
  };
}
