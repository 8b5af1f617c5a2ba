/**
 * What a live-stream listener asked for: type patterns and an optional `where`, matched by the code
 * delivery fan-out uses (`matchesAny`, `compileFilter`) with the same rule for system events: they
 * reach a listener only when one of its patterns names `switchyard.`, so the default `**` never
 * streams them. The route validates both (same codes as subscriptions); this only compiles them.
 */
import { compileFilter, type Predicate } from '../delivery/filter';
import { SYSTEM_PREFIX } from '../delivery/system-events';
import { matchesAny } from '../lib/type-pattern';

/** The listener's filter as the TenantLog keeps it (SQLite row, survives hibernation). */
export interface StreamFilterSpec {
  types: string[];
  where: unknown;
}

export interface StreamFilter {
  /** Whether `where` needs the parsed event; without one, the type decides. */
  needsEvent: boolean;
  matches(type: string, event: () => Record<string, unknown>): boolean;
}

export const DEFAULT_TYPES = ['**'];

/** Query values as the route passes them on: `types` comma-separated, `where` JSON text. */
export function filterSpecOf(types: string | null | undefined, where: string | null | undefined): StreamFilterSpec {
  const patterns = types
    ?.split(',')
    .map((t) => t.trim())
    .filter(Boolean);
  return { types: patterns?.length ? patterns : DEFAULT_TYPES, where: where ? (JSON.parse(where) as unknown) : null };
}

export function compileStreamFilter(spec: StreamFilterSpec): StreamFilter {
  const wantsSystem = spec.types.some((t) => t.startsWith(SYSTEM_PREFIX));
  const compiled = spec.where == null ? null : compileFilter(spec.where);
  // validated before the stream opened; one that no longer compiles matches nothing rather than everything
  const test: Predicate | null = compiled === null ? null : compiled.ok ? compiled.test : () => false;
  return {
    needsEvent: test !== null,
    matches(type, event) {
      if (type.startsWith(SYSTEM_PREFIX) && !wantsSystem) return false;
      if (!matchesAny(spec.types, type)) return false;
      return test === null || test(event());
    },
  };
}
