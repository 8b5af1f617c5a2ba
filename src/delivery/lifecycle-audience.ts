/**
 * Lifecycle events (`switchyard.delivery.failed` / `.succeeded`, lifecycle.ts) are stored only for a
 * tenant with a subscription that asks for them by name (`switchyard.delivery.*`, `switchyard.**`, …),
 * which is the only way they are delivered (fan-out.ts). Without this a dead endpoint would double its
 * tenant's event writes (one stored event per failed attempt) for no reader.
 *
 * The tenant's subscription patterns are read once per isolate and tenant for `AUDIENCE_TTL_MS`, so a
 * new subscription gets lifecycle events from at most that long after it was created. Other system
 * events (`.exhausted`, breaker and disabled events) are always stored: they are rare and also serve
 * as the tenant's record of what happened.
 */
import type { Db } from '../db/client';
import { loadRouting } from '../db/subscriptions';
import { matchesAny } from '../lib/type-pattern';
import type { SystemEventSpec } from './settle';
import { SYSTEM_PREFIX } from './system-events';

export const LIFECYCLE_TYPES = new Set(['switchyard.delivery.failed', 'switchyard.delivery.succeeded']);
export const AUDIENCE_TTL_MS = 10_000;
/** Bounds the isolate's memory: entries beyond this many tenants are dropped oldest first. */
const MAX_TENANTS = 1_000;

const audiences = new Map<string, { patterns: string[][]; until: number }>();

async function patternsOf(db: Db, tenantId: string, now: number): Promise<string[][]> {
  const cached = audiences.get(tenantId);
  if (cached && cached.until > now) return cached.patterns;
  const routing = await loadRouting(db, tenantId);
  // system events reach only subscriptions that name them (fan-out.ts), so only those patterns count
  const patterns = routing.subscriptions.map((s) => s.types).filter((types) => types.some((t) => t.startsWith(SYSTEM_PREFIX)));
  audiences.delete(tenantId);
  audiences.set(tenantId, { patterns, until: now + AUDIENCE_TTL_MS });
  if (audiences.size > MAX_TENANTS) audiences.delete(audiences.keys().next().value!);
  return patterns;
}

/** `specs` without the lifecycle events no subscription of their tenant would receive. */
export async function withLifecycleAudience(db: Db, specs: SystemEventSpec[], now = Date.now()): Promise<SystemEventSpec[]> {
  if (!specs.some((s) => LIFECYCLE_TYPES.has(s.type))) return specs;
  const kept: SystemEventSpec[] = [];
  for (const spec of specs) {
    if (!LIFECYCLE_TYPES.has(spec.type)) kept.push(spec);
    else if ((await patternsOf(db, spec.tenantId, now)).some((types) => matchesAny(types, spec.type))) kept.push(spec);
  }
  return kept;
}

/** Tests: forget what was read. */
export function forgetLifecycleAudiences(): void {
  audiences.clear();
}
