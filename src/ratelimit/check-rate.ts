/**
 * Checks a request against its rate limits: in Redis through `@upstash/ratelimit` when Redis is
 * configured and answering (the tenant and source checks leave in one auto-pipelined HTTP call),
 * otherwise in the tenant's `RateLimiter` Durable Object. A Redis failure or timeout is logged (once
 * per outage, see lib/redis.ts) and answered by the Durable Object within the same request; only if
 * that fails too is the request let through, with an error log.
 */
import { Ratelimit } from '@upstash/ratelimit';
import type { Redis } from '@upstash/redis/cloudflare';
import { tryRedis, type RedisEnv } from '../lib/redis';
import type { PolicyState, RateCheck, RateDecision, RateRule } from './limits';

export const REDIS_PREFIX = 'sy:rl';

const limiters = new WeakMap<Redis, Map<string, Ratelimit>>();

function limiterFor(redis: Redis, rule: RateRule): Ratelimit {
  let byRule = limiters.get(redis);
  if (!byRule) limiters.set(redis, (byRule = new Map()));
  const id = `${rule.requests}/${rule.window_seconds}`;
  let limiter = byRule.get(id);
  if (!limiter) {
    // timeout 0: the client's own deadline (lib/redis.ts) fails the call, where the library would let it pass
    limiter = new Ratelimit({
      redis,
      limiter: Ratelimit.slidingWindow(rule.requests, `${rule.window_seconds} s`),
      prefix: REDIS_PREFIX,
      timeout: 0,
      analytics: false,
    });
    byRule.set(id, limiter);
  }
  return limiter;
}

interface LimiterEnv extends RedisEnv {
  RATE_LIMITER: Env['RATE_LIMITER'];
}

export async function checkRate(env: LimiterEnv, tenantId: string, checks: RateCheck[]): Promise<RateDecision> {
  const viaRedis = await tryRedis(env, 'rate limit', (redis) => Promise.all(checks.map((check) => limiterFor(redis, check.rule).limit(check.key))));
  if (viaRedis) {
    const states = checks.map((check, i): PolicyState => {
      const r = viaRedis.value[i]!;
      return { policy: check.policy, rule: check.rule, allowed: r.success, remaining: r.remaining, resetAt: r.reset };
    });
    return { allowed: states.every((s) => s.allowed), states, backend: 'redis' };
  }
  try {
    const states = await env.RATE_LIMITER.getByName(tenantId).check(checks);
    return { allowed: states.every((s) => s.allowed), states, backend: 'durable-object' };
  } catch (error) {
    console.error(JSON.stringify({ msg: 'rate limiter unavailable (Redis and Durable Object): request let through', tenantId, error: String(error) }));
    return { allowed: true, states: [], backend: 'none' };
  }
}
