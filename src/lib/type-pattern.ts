/**
 * Event-type patterns with dot-segment wildcards: `*` is exactly one segment, `**` is any number of
 * segments (zero included). `orders.*` matches `orders.created`, not `orders.created.eu`;
 * `orders.**` matches both (and `orders`); `*.failed` matches `payment.failed`; `**` matches all.
 */
export const TYPE_PATTERN = /^(\*\*|\*|[A-Za-z0-9_-]+)(\.(\*\*|\*|[A-Za-z0-9_-]+))*$/;

const compiled = new Map<string, RegExp>();

// Matched against "." + type, so every segment (and `**`, as zero or more of them) carries its own dot.
function toRegExp(pattern: string): RegExp {
  let re = compiled.get(pattern);
  if (!re) {
    const source = pattern
      .split('.')
      .map((segment) => (segment === '**' ? '(?:\\.[^.]+)*' : segment === '*' ? '\\.[^.]+' : `\\.${segment}`))
      .join('');
    re = new RegExp(`^${source}$`);
    compiled.set(pattern, re);
  }
  return re;
}

/** False for a malformed pattern (patterns are validated on write; this keeps a bad row harmless). */
export function matchesType(pattern: string, type: string): boolean {
  if (!TYPE_PATTERN.test(pattern)) return false;
  return toRegExp(pattern).test(`.${type}`);
}

export function matchesAny(patterns: readonly string[], type: string): boolean {
  return patterns.some((p) => matchesType(p, type));
}
