/**
 * The ingest route's rate-limit step: checks a verified request's source and tenant limits, turns a
 * refusal into a 429 `rate_limited` problem, and keeps the headers for an accepted response.
 */
import { problem, type Problem } from '../lib/problem';
import { checkRate } from './check-rate';
import { checksFor, rateLimitHeaders, type RateDecision, type RateLimits } from './limits';

interface LimitedSource {
  id: string;
  tenantId: string;
  rateLimits: RateLimits;
}

export function ingestLimiter(env: Parameters<typeof checkRate>[0]) {
  let decision: RateDecision | null = null;
  let checked = '';
  return {
    /**
     * A 429 problem when the request is over a limit, else null (also when the tenant has no limits).
     * Asked again with the same limits (after a reload of the source), it does not count the request twice.
     */
    async limit(source: LimitedSource): Promise<Problem | null> {
      const checks = checksFor(source.tenantId, source.id, source.rateLimits);
      const key = JSON.stringify(checks);
      if (key === checked) return null;
      checked = key;
      if (checks.length === 0) return null;
      decision = await checkRate(env, source.tenantId, checks);
      if (decision.allowed) return null;
      const headers = rateLimitHeaders(decision, Date.now());
      const over = decision.states.find((s) => !s.allowed)!;
      return problem(
        429,
        'rate_limited',
        `the ${over.policy} limit of ${over.rule.requests} requests per ${over.rule.window_seconds} s is used up; retry after ${headers['retry-after']} s`,
        { headers },
      );
    },
    /** RateLimit headers for the response once the request got through. */
    headers(): Record<string, string> {
      return decision ? rateLimitHeaders(decision, Date.now()) : {};
    },
  };
}
