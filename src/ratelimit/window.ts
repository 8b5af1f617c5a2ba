/**
 * The sliding-window arithmetic of `@upstash/ratelimit` (two fixed windows, the previous one weighted
 * by how much of it still overlaps), so the Durable Object fallback limits the way Redis does. A
 * refused request consumes nothing.
 */
import type { RateRule } from './limits';

export interface WindowState {
  /** Index of the current fixed window (`floor(now / windowMs)`). */
  window: number;
  current: number;
  previous: number;
}

export interface WindowVerdict {
  allowed: boolean;
  remaining: number;
  resetAt: number;
  /** The state to keep if the request is let through. */
  next: WindowState;
}

export function slide(state: WindowState | undefined, rule: RateRule, now: number): WindowVerdict {
  const windowMs = rule.window_seconds * 1000;
  const window = Math.floor(now / windowMs);
  let current = 0;
  let previous = 0;
  if (state?.window === window) {
    current = state.current;
    previous = state.previous;
  } else if (state?.window === window - 1) {
    previous = state.current;
  }
  const weighted = Math.floor((1 - (now % windowMs) / windowMs) * previous);
  const resetAt = (window + 1) * windowMs;
  if (weighted + current >= rule.requests) {
    return { allowed: false, remaining: 0, resetAt, next: { window, current, previous } };
  }
  return { allowed: true, remaining: rule.requests - weighted - current - 1, resetAt, next: { window, current: current + 1, previous } };
}

/** Whether a state can be forgotten: both its windows are over. */
export function expired(state: WindowState, rule: RateRule, now: number): boolean {
  return Math.floor(now / (rule.window_seconds * 1000)) > state.window + 1;
}
