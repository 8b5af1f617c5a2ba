/**
 * When to try a delivery again. Pure: randomness is injected, nothing reads the clock.
 *
 * A schedule lists the seconds to wait *before* each attempt: entry 0 is the wait before attempt 1
 * (normally 0, "now"), entry n the wait before attempt n+1 after attempt n failed. Its length is
 * therefore the number of attempts; after the last one the delivery is exhausted.
 *
 * Rules a reader would not guess:
 * - Jitter (±20 % by default) spreads the schedule's delays so that endpoints that come back after
 *   an outage are not hit by every queued delivery in the same second. `Retry-After` is not
 *   jittered: it is the destination's own instruction.
 * - `Retry-After` (from a 429/503 outcome) is honoured as a floor: the delay is the larger of it and
 *   the jittered schedule, and it is capped (1 h by default) because outcomes come from plugins,
 *   including tenant scripts, and must not be able to park a delivery for days.
 * - `scale` multiplies the whole delay, `Retry-After` included, so a test can run the real shape of
 *   the schedule fast (0.001 turns 5 min into 300 ms).
 * - Queues take whole seconds, at most 43200 (12 h). `delayMs` is the exact wish, unrounded and
 *   uncapped; `delaySeconds` is `min(43200, ceil(delayMs / 1000))`. Rounding up means a retry never
 *   runs earlier than asked, so any non-zero scaled delay is at least 1 s on a queue. A consumer that
 *   wants a wait beyond 12 h (a schedule override may ask for up to 24 h) re-delays the remainder
 *   without counting an attempt.
 */
import { z } from 'zod';
import type { ActionOutcome } from '../plugins/types';

/** now, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: eight attempts over about 28 hours. */
export const DEFAULT_SCHEDULE_SECONDS: readonly number[] = [0, 5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600];

/** Cloudflare Queues refuse a larger `delaySeconds`. */
export const QUEUE_MAX_DELAY_SECONDS = 43_200;

/** A subscription's own schedule, in the same shape as {@link DEFAULT_SCHEDULE_SECONDS}. */
export const retryScheduleSchema = z
  .array(z.int().min(0).max(86_400))
  .min(1)
  .max(20)
  .describe('seconds to wait before each attempt; entry 0 is the wait before the first attempt, the length is the number of attempts');

export interface RetryPolicy {
  scheduleSeconds: readonly number[];
  /** Fraction of each scheduled delay added or removed at random: 0.2 is ±20 %. */
  jitter: number;
  /** Multiplies every delay; 1 in production. */
  scale: number;
  retryAfterCapSeconds: number;
  /** Returns a number in [0, 1), like `Math.random`. */
  random: () => number;
}

export type RetryOutcome = Extract<ActionOutcome, { kind: 'retry' }>;

export type NextStep =
  | { kind: 'retry' /** the attempt this delay leads to */; attempt: number; delaySeconds: number; delayMs: number }
  | { kind: 'exhausted'; attempts: number };

/** Builds a policy; throws on an invalid schedule, which is a bug or an unvalidated override. */
export function retryPolicy(options: Partial<RetryPolicy> = {}): RetryPolicy {
  const policy: RetryPolicy = {
    scheduleSeconds: options.scheduleSeconds ?? DEFAULT_SCHEDULE_SECONDS,
    jitter: options.jitter ?? 0.2,
    scale: options.scale ?? 1,
    retryAfterCapSeconds: options.retryAfterCapSeconds ?? 3600,
    random: options.random ?? Math.random,
  };
  retryScheduleSchema.parse(policy.scheduleSeconds);
  if (!(policy.jitter >= 0 && policy.jitter < 1)) throw new RangeError(`jitter must be in [0, 1), got ${policy.jitter}`);
  if (!(policy.scale > 0 && Number.isFinite(policy.scale))) throw new RangeError(`scale must be a positive number, got ${policy.scale}`);
  if (!(policy.retryAfterCapSeconds >= 0)) throw new RangeError(`retryAfterCapSeconds must be >= 0, got ${policy.retryAfterCapSeconds}`);
  return policy;
}

/** The wait before attempt 1, for whoever enqueues a new delivery. */
export function firstDelay(policy: RetryPolicy): { delaySeconds: number; delayMs: number } {
  return toQueueDelay(jittered(policy.scheduleSeconds[0] ?? 0, policy) * policy.scale * 1000);
}

/**
 * What to do after attempt `attempt` (1-based) ended in `outcome`. Only retryable outcomes are
 * accepted: `delivered`, `gone` and `rejected` end a delivery without asking the policy.
 */
export function nextStep(attempt: number, outcome: RetryOutcome, policy: RetryPolicy): NextStep {
  if (!Number.isInteger(attempt) || attempt < 1) throw new RangeError(`attempt must be an integer >= 1, got ${attempt}`);
  const scheduled = policy.scheduleSeconds[attempt];
  if (scheduled === undefined) return { kind: 'exhausted', attempts: attempt };
  let seconds = jittered(scheduled, policy);
  const retryAfter = outcome.retryAfterSeconds;
  if (retryAfter !== undefined && Number.isFinite(retryAfter) && retryAfter > 0) {
    seconds = Math.max(seconds, Math.min(retryAfter, policy.retryAfterCapSeconds));
  }
  return { kind: 'retry', attempt: attempt + 1, ...toQueueDelay(seconds * policy.scale * 1000) };
}

function jittered(seconds: number, policy: RetryPolicy): number {
  return seconds * (1 + policy.jitter * (2 * policy.random() - 1));
}

function toQueueDelay(delayMs: number): { delaySeconds: number; delayMs: number } {
  const ms = Math.max(0, delayMs);
  // The epsilon keeps float noise (300.00000000000006) from adding a whole second.
  const seconds = Math.max(0, Math.ceil(ms / 1000 - 1e-9));
  return { delayMs: ms, delaySeconds: Math.min(QUEUE_MAX_DELAY_SECONDS, seconds) };
}
