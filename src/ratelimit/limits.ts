/**
 * A tenant's ingest rate limits and how a decision is told to the client. Limits count ingest
 * requests (a batch is one request) in a sliding window: `tenant` over all of the tenant's sources,
 * `source` for each source on its own. A tenant without limits (the default) is not limited and costs
 * no rate-limit call at all.
 *
 * Headers follow draft-ietf-httpapi-ratelimit-headers-10: `RateLimit-Policy` lists both policies
 * (`"tenant";q=100;w=60, "source";q=10;w=1`), `RateLimit` reports the one closest to exhaustion
 * (`"source";r=0;t=5`), and a 429 adds `Retry-After` in seconds.
 */
import { z } from 'zod';

export const rateRuleSchema = z.object({
  requests: z.int().min(1).max(1_000_000),
  window_seconds: z.int().min(1).max(86_400),
});
export type RateRule = z.infer<typeof rateRuleSchema>;

export const rateLimitsSchema = z.object({
  tenant: rateRuleSchema.nullable().optional(),
  source: rateRuleSchema.nullable().optional(),
});
export type RateLimits = z.infer<typeof rateLimitsSchema>;

export type PolicyName = 'tenant' | 'source';

/** One limit to check: the Redis/Durable Object key and its rule. */
export interface RateCheck {
  policy: PolicyName;
  key: string;
  rule: RateRule;
}

export interface PolicyState {
  policy: PolicyName;
  rule: RateRule;
  allowed: boolean;
  remaining: number;
  /** Unix ms when the window frees capacity again. */
  resetAt: number;
}

export interface RateDecision {
  allowed: boolean;
  states: PolicyState[];
  /** Which store answered; `none` when both were unavailable (the request was let through, loudly). */
  backend: 'redis' | 'durable-object' | 'none';
}

/** The checks a request to `sourceId` of `tenantId` must pass under `limits`. */
export function checksFor(tenantId: string, sourceId: string, limits: RateLimits | undefined): RateCheck[] {
  const out: RateCheck[] = [];
  if (limits?.tenant) out.push({ policy: 'tenant', key: `t:${tenantId}`, rule: limits.tenant });
  if (limits?.source) out.push({ policy: 'source', key: `s:${sourceId}`, rule: limits.source });
  return out;
}

/** Reads stored limits leniently: a malformed value limits nothing rather than breaking ingest. */
export function parseRateLimits(value: unknown): RateLimits {
  const parsed = rateLimitsSchema.safeParse(value ?? {});
  return parsed.success ? parsed.data : {};
}

/** A source's limits: the tenant's, with the source's own rule (when it has a valid one) in place of the tenant's per-source rule. */
export function sourceRateLimits(tenantLimits: unknown, sourceRule: unknown): RateLimits {
  const limits = parseRateLimits(tenantLimits);
  const own = rateRuleSchema.safeParse(sourceRule);
  return own.success ? { ...limits, source: own.data } : limits;
}

export function rateLimitHeaders(decision: RateDecision, now: number): Record<string, string> {
  if (decision.states.length === 0) return {};
  const seconds = (s: PolicyState) => Math.max(0, Math.ceil((s.resetAt - now) / 1000));
  const blocking = decision.states.filter((s) => !s.allowed);
  const tightest = blocking[0] ?? [...decision.states].sort((a, b) => a.remaining - b.remaining || b.resetAt - a.resetAt)[0]!;
  const headers: Record<string, string> = {
    'ratelimit-policy': decision.states.map((s) => `"${s.policy}";q=${s.rule.requests};w=${s.rule.window_seconds}`).join(', '),
    ratelimit: `"${tightest.policy}";r=${Math.max(0, tightest.remaining)};t=${seconds(tightest)}`,
  };
  if (blocking.length > 0) headers['retry-after'] = String(Math.max(1, ...blocking.map(seconds)));
  return headers;
}
