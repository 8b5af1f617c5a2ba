/**
 * The deployment's Upstash Redis (when `UPSTASH_REDIS_REST_URL` is set), shared by the rate limiter
 * and the config cache. Every HTTP call has a short deadline and no retries; after a failure Redis is
 * skipped for `BREAKER_MS` so callers go straight to their fallback (the Durable Object limiter,
 * Postgres) instead of waiting on a sick Redis per request, and the degradation is logged once per
 * outage, with its recovery.
 */
import { Redis } from '@upstash/redis/cloudflare';
import { configOf, type ConfigVars } from '../config';

export const BREAKER_MS = 5_000;

export type RedisEnv = Pick<ConfigVars, 'UPSTASH_REDIS_REST_URL' | 'UPSTASH_REDIS_REST_TOKEN' | 'REDIS_TIMEOUT_MS'>;

/** Deadline of one Redis call in ms (`REDIS_TIMEOUT_MS`). */
export function redisTimeoutMs(env: RedisEnv): number {
  return configOf(env).redisTimeoutMs;
}

const clients = new Map<string, Redis>();
let openUntil = 0;
let degradedSince: number | null = null;

export function redisConfigured(env: RedisEnv): boolean {
  return configOf(env).redis !== null;
}

/** The client, or null when Redis is not configured or is being skipped after a failure. */
export function redisFor(env: RedisEnv): Redis | null {
  const { redis, redisTimeoutMs: timeoutMs } = configOf(env);
  if (!redis || Date.now() < openUntil) return null;
  const { url, token } = redis;
  const id = `${url} ${token} ${timeoutMs}`;
  let client = clients.get(id);
  if (!client) {
    client = new Redis({
      url,
      token,
      retry: { retries: 0 },
      signal: () => AbortSignal.timeout(timeoutMs),
      enableTelemetry: false,
      latencyLogging: false,
    });
    clients.set(id, client);
  }
  return client;
}

/** Reports a failed or too slow Redis call: Redis is skipped for a while, and that is logged once. */
export function redisFailed(what: string, error: unknown): void {
  const now = Date.now();
  openUntil = now + BREAKER_MS;
  if (degradedSince === null) {
    degradedSince = now;
    console.error(
      JSON.stringify({
        msg: 'redis degraded: using fallbacks (rate limits in Durable Objects, config from Postgres)',
        what,
        error: String(error),
        retryInMs: BREAKER_MS,
      }),
    );
  }
}

export function redisSucceeded(): void {
  if (degradedSince === null) return;
  console.warn(JSON.stringify({ msg: 'redis recovered', degradedForMs: Date.now() - degradedSince }));
  degradedSince = null;
}

/** Runs one Redis call with the breaker's bookkeeping; undefined when Redis is unavailable or failed. */
export async function tryRedis<T>(env: RedisEnv, what: string, work: (redis: Redis) => Promise<T>): Promise<{ value: T } | undefined> {
  const redis = redisFor(env);
  if (!redis) return undefined;
  try {
    const value = await work(redis);
    redisSucceeded();
    return { value };
  } catch (error) {
    redisFailed(what, error);
    return undefined;
  }
}
