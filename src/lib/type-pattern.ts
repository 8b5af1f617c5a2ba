/**
 * Event-type patterns with dot-segment wildcards: `*` is exactly one segment, `**` is any number of
 * segments (zero included). `orders.*` matches `orders.created`, not `orders.created.eu`;
 * `orders.**` matches both (and `orders`); `*.failed` matches `payment.failed`; `**` matches all.
 *
 * Matching walks the segments with the classic wildcard algorithm (resume after the last `**`), so it
 * costs at most segments(pattern) × segments(type) steps whatever the pattern; no RegExp is built.
 * New patterns are also held to `TYPE_PATTERN_LIMITS` (see `typePatternProblem`).
 */
import { z } from 'zod';

export const TYPE_PATTERN = /^(\*\*|\*|[A-Za-z0-9_-]+)(\.(\*\*|\*|[A-Za-z0-9_-]+))*$/;

export const TYPE_PATTERN_LIMITS = { maxChars: 256, maxSegments: 32, maxDoubleStars: 4 } as const;

/** Why a pattern is refused at registration (malformed or over a limit), or undefined when it is fine. */
export function typePatternProblem(pattern: string): string | undefined {
  const { maxChars, maxSegments, maxDoubleStars } = TYPE_PATTERN_LIMITS;
  if (pattern.length > maxChars) return `an event-type pattern has at most ${maxChars} characters`;
  if (!TYPE_PATTERN.test(pattern)) return 'event-type pattern like orders.* or **';
  const segments = pattern.split('.');
  if (segments.length > maxSegments) return `an event-type pattern has at most ${maxSegments} segments`;
  if (segments.filter((s) => s === '**').length > maxDoubleStars) return `an event-type pattern has at most ${maxDoubleStars} ** segments`;
  return undefined;
}

/** One event-type pattern in a request body or plugin config; a refusal is a 422 naming the item. */
export const TypePatternSchema = z
  .string()
  .max(TYPE_PATTERN_LIMITS.maxChars, `an event-type pattern has at most ${TYPE_PATTERN_LIMITS.maxChars} characters`)
  .regex(TYPE_PATTERN, 'event-type pattern like orders.* or **')
  .superRefine((pattern, ctx) => {
    if (pattern.length > TYPE_PATTERN_LIMITS.maxChars || !TYPE_PATTERN.test(pattern)) return; // reported above
    const message = typePatternProblem(pattern);
    if (message) ctx.addIssue({ code: 'custom', message });
  });

function matchSegments(pattern: readonly string[], type: readonly string[]): boolean {
  let p = 0;
  let t = 0;
  let star = -1; // index of the last `**` seen
  let resume = 0; // the type segment that `**` would swallow next when we backtrack
  while (t < type.length) {
    const segment = pattern[p];
    if (segment === '**') {
      star = p++;
      resume = t;
    } else if (segment !== undefined && (segment === '*' || segment === type[t])) {
      p++;
      t++;
    } else if (star >= 0) {
      p = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (pattern[p] === '**') p++;
  return p === pattern.length;
}

/** False for a malformed pattern (patterns are validated on write; this keeps a bad row harmless). */
export function matchesType(pattern: string, type: string): boolean {
  if (!TYPE_PATTERN.test(pattern)) return false;
  const segments = type.split('.');
  // no pattern segment matches an empty one (`*` and `**` stand for non-empty segments)
  if (segments.includes('')) return false;
  return matchSegments(pattern.split('.'), segments);
}

export function matchesAny(patterns: readonly string[], type: string): boolean {
  return patterns.some((p) => matchesType(p, type));
}
