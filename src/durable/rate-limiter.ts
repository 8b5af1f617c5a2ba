/**
 * The rate limiter used when Redis is not configured or not answering: one instance per tenant (named
 * by the tenant id), holding the tenant's window and those of its sources, so one RPC checks both.
 * A tenant's ingest already funnels through its single TenantLog, so this shard has the same ceiling.
 * Windows live in memory only: after an eviction counting starts afresh, which errs on the side of
 * letting requests through for at most one window.
 */
import { DurableObject } from 'cloudflare:workers';
import type { PolicyState, RateCheck } from '../ratelimit/limits';
import { expired, slide, type WindowState } from '../ratelimit/window';

const SWEEP_EVERY = 1000;

export class RateLimiter extends DurableObject<Env> {
  private readonly windows = new Map<string, { state: WindowState; check: RateCheck }>();
  private calls = 0;

  /** Checks every limit; the request counts against them only when all of them let it through. */
  check(checks: RateCheck[]): PolicyState[] {
    const now = Date.now();
    if (++this.calls % SWEEP_EVERY === 0) this.sweep(now);
    const verdicts = checks.map((check) => {
      // a changed rule starts its window afresh
      const id = `${check.key}|${check.rule.requests}/${check.rule.window_seconds}`;
      return { id, check, verdict: slide(this.windows.get(id)?.state, check.rule, now) };
    });
    const allowed = verdicts.every((v) => v.verdict.allowed);
    if (allowed) for (const v of verdicts) this.windows.set(v.id, { state: v.verdict.next, check: v.check });
    return verdicts.map(({ check, verdict }) => ({
      policy: check.policy,
      rule: check.rule,
      allowed: verdict.allowed,
      remaining: allowed ? verdict.remaining : verdict.allowed ? verdict.remaining + 1 : 0,
      resetAt: verdict.resetAt,
    }));
  }

  private sweep(now: number): void {
    for (const [id, { state, check }] of this.windows) if (expired(state, check.rule, now)) this.windows.delete(id);
  }
}
