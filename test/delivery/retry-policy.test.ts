import { describe, expect, it } from 'vitest';
import {
  DEFAULT_SCHEDULE_SECONDS,
  QUEUE_MAX_DELAY_SECONDS,
  firstDelay,
  nextStep,
  retryPolicy,
  retryScheduleSchema,
  type RetryOutcome,
} from '../../src/delivery/retry-policy';

const failed: RetryOutcome = { kind: 'retry', status: 500, error: 'destination answered 500' };
const middle = () => 0.5; // no jitter
const lowest = () => 0; // -20 %
const highest = () => 0.999999; // almost +20 %

describe('retry policy', () => {
  it('walks the default schedule and is exhausted after the eighth attempt when jitter is neutral', () => {
    const policy = retryPolicy({ random: middle });
    const delays: number[] = [];
    for (let attempt = 1; attempt <= 7; attempt++) {
      const step = nextStep(attempt, failed, policy);
      expect(step).toMatchObject({ kind: 'retry', attempt: attempt + 1 });
      if (step.kind === 'retry') delays.push(step.delaySeconds);
    }
    expect(delays).toEqual([5, 300, 1800, 7200, 18_000, 36_000, 36_000]);
    expect(nextStep(8, failed, policy)).toEqual({ kind: 'exhausted', attempts: 8 });
    expect(firstDelay(policy)).toEqual({ delaySeconds: 0, delayMs: 0 });
  });

  it('spreads each delay by at most 20 % either way when random is at its extremes', () => {
    const low = nextStep(3, failed, retryPolicy({ random: lowest }));
    const high = nextStep(3, failed, retryPolicy({ random: highest }));
    expect(low).toMatchObject({ kind: 'retry', delaySeconds: 1440 });
    expect(high.kind === 'retry' && high.delaySeconds).toBe(2160);
    // 10 h + 20 % is exactly the 12 h Queues allow
    const last = nextStep(7, failed, retryPolicy({ random: highest }));
    expect(last.kind === 'retry' && last.delaySeconds).toBeLessThanOrEqual(QUEUE_MAX_DELAY_SECONDS);
  });

  it('rounds up to whole seconds and exposes the exact milliseconds when scaled for tests', () => {
    const policy = retryPolicy({ scale: 0.001, random: middle });
    expect(nextStep(1, failed, policy)).toEqual({ kind: 'retry', attempt: 2, delaySeconds: 1, delayMs: 5 });
    expect(nextStep(2, failed, policy)).toMatchObject({ delaySeconds: 1, delayMs: 300 });
    expect(nextStep(4, failed, policy)).toMatchObject({ delaySeconds: 8 });
    const step = nextStep(4, failed, policy);
    expect(step.kind === 'retry' && step.delayMs).toBeCloseTo(7200, 6);
  });

  it('never adds a second for float noise when the delay is a whole number of seconds', () => {
    // 300 * 0.07 * 1000 is 21000.000000000004 in floating point
    const policy = retryPolicy({ scheduleSeconds: [0, 300], jitter: 0, scale: 0.07 });
    expect(nextStep(1, failed, policy)).toMatchObject({ delaySeconds: 21 });
  });

  it('waits at least as long as Retry-After asks when it exceeds the schedule', () => {
    const policy = retryPolicy({ random: middle });
    expect(nextStep(1, { ...failed, retryAfterSeconds: 120 }, policy)).toMatchObject({ delaySeconds: 120 });
    // a shorter Retry-After does not make the schedule more aggressive
    expect(nextStep(3, { ...failed, retryAfterSeconds: 10 }, policy)).toMatchObject({ delaySeconds: 1800 });
  });

  it('caps Retry-After at one hour by default and at the configured cap otherwise', () => {
    const huge = { ...failed, retryAfterSeconds: 7 * 86_400 };
    expect(nextStep(1, huge, retryPolicy({ random: middle }))).toMatchObject({ delaySeconds: 3600 });
    expect(nextStep(1, huge, retryPolicy({ random: middle, retryAfterCapSeconds: 600 }))).toMatchObject({ delaySeconds: 600 });
  });

  it('scales Retry-After with the rest of the delay when a scale is set', () => {
    const step = nextStep(1, { ...failed, retryAfterSeconds: 120 }, retryPolicy({ scale: 0.01, random: middle }));
    expect(step).toMatchObject({ delaySeconds: 2 });
    expect(step.kind === 'retry' && step.delayMs).toBeCloseTo(1200, 6);
  });

  it('clamps delaySeconds to the Queues maximum but keeps the wish in delayMs when an override asks for a day', () => {
    const step = nextStep(1, failed, retryPolicy({ scheduleSeconds: [0, 86_400], jitter: 0 }));
    expect(step).toEqual({ kind: 'retry', attempt: 2, delaySeconds: QUEUE_MAX_DELAY_SECONDS, delayMs: 86_400_000 });
  });

  it('follows a subscription override, including its length, when one is given', () => {
    const policy = retryPolicy({ scheduleSeconds: [10, 60, 60], jitter: 0 });
    expect(firstDelay(policy)).toEqual({ delaySeconds: 10, delayMs: 10_000 });
    expect(nextStep(2, failed, policy)).toMatchObject({ kind: 'retry', attempt: 3, delaySeconds: 60 });
    expect(nextStep(3, failed, policy)).toEqual({ kind: 'exhausted', attempts: 3 });
    expect(nextStep(1, failed, retryPolicy({ scheduleSeconds: [0] }))).toEqual({ kind: 'exhausted', attempts: 1 });
  });

  it('refuses overrides outside 1..20 entries of 0..86400 seconds when validated', () => {
    expect(retryScheduleSchema.safeParse([0, 5, 60]).success).toBe(true);
    expect(retryScheduleSchema.safeParse(Array(20).fill(1)).success).toBe(true);
    for (const bad of [[], Array(21).fill(1), [-1], [86_401], [1.5], ['5']]) {
      expect(retryScheduleSchema.safeParse(bad).success, JSON.stringify(bad)).toBe(false);
    }
    expect(() => retryPolicy({ scheduleSeconds: [] })).toThrow();
    expect(() => retryPolicy({ jitter: 1 })).toThrow(RangeError);
    expect(() => retryPolicy({ scale: 0 })).toThrow(RangeError);
  });

  it('throws when asked about attempt 0 or a fraction, which is a caller bug', () => {
    expect(() => nextStep(0, failed, retryPolicy())).toThrow(RangeError);
    expect(() => nextStep(1.5, failed, retryPolicy())).toThrow(RangeError);
  });

  it('keeps every jittered default delay within 80..120 % and the Queues limit over many draws', () => {
    const policy = retryPolicy();
    for (let draw = 0; draw < 500; draw++) {
      for (let attempt = 1; attempt < DEFAULT_SCHEDULE_SECONDS.length; attempt++) {
        const base = DEFAULT_SCHEDULE_SECONDS[attempt] ?? 0;
        const step = nextStep(attempt, failed, policy);
        if (step.kind !== 'retry') throw new Error('expected a retry');
        expect(step.delayMs).toBeGreaterThanOrEqual(base * 800);
        expect(step.delayMs).toBeLessThanOrEqual(base * 1200);
        expect(step.delaySeconds).toBeLessThanOrEqual(QUEUE_MAX_DELAY_SECONDS);
        expect(Number.isInteger(step.delaySeconds)).toBe(true);
      }
    }
  });
});
