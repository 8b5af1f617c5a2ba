import { describe, expect, it } from 'vitest';
import { rateLimitHeaders, type RateDecision } from '../../src/ratelimit/limits';
import { slide, type WindowState } from '../../src/ratelimit/window';

describe('sliding window (Durable Object fallback)', () => {
  const rule = { requests: 3, window_seconds: 10 };

  it('lets `requests` through per window, refuses the next without counting it, and weighs the previous window', () => {
    let state: WindowState | undefined;
    const at = (ms: number) => {
      const verdict = slide(state, rule, ms);
      if (verdict.allowed) state = verdict.next;
      return [verdict.allowed, verdict.remaining];
    };
    expect([at(100_000), at(100_001), at(100_002), at(100_003)]).toEqual([
      [true, 2],
      [true, 1],
      [true, 0],
      [false, 0],
    ]);
    expect(state).toMatchObject({ current: 3 });
    // 10 % into the next window, 90 % of the previous 3 still count: floor(2.7) = 2
    expect(at(111_000)).toEqual([true, 0]);
    expect(at(111_001)).toEqual([false, 0]);
    // two windows later nothing counts any more
    expect(at(130_000)).toEqual([true, 2]);
  });
});

describe('RateLimit headers', () => {
  it('lists every policy, reports the blocking one and a Retry-After of at least a second', () => {
    const decision: RateDecision = {
      allowed: false,
      backend: 'redis',
      states: [
        { policy: 'tenant', rule: { requests: 100, window_seconds: 60 }, allowed: true, remaining: 40, resetAt: 30_000 },
        { policy: 'source', rule: { requests: 10, window_seconds: 1 }, allowed: false, remaining: 0, resetAt: 10_200 },
      ],
    };
    expect(rateLimitHeaders(decision, 10_000)).toEqual({
      'ratelimit-policy': '"tenant";q=100;w=60, "source";q=10;w=1',
      ratelimit: '"source";r=0;t=1',
      'retry-after': '1',
    });
    expect(rateLimitHeaders({ ...decision, allowed: true, states: [decision.states[0]!] }, 10_000)).toEqual({
      'ratelimit-policy': '"tenant";q=100;w=60',
      ratelimit: '"tenant";r=40;t=20',
    });
  });
});
