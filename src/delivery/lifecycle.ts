/**
 * Lifecycle events (README "Lifecycle events"): after an attempt is on record,
 * `switchyard.delivery.failed` for an attempt that failed (whether or not retries remain) and, when
 * the subscription set `emit_succeeded`, `switchyard.delivery.succeeded` for one that delivered. Pure.
 *
 * Bounded: at most one event per attempt, with an id made of the delivery and the attempt number, so
 * recording the same attempt twice (a batch retried after a crash) emits a duplicate the TenantLog
 * drops. Never about the delivery of a system event, so an event about a failure cannot fail and
 * emit another (system-events.ts).
 */
import type { AttemptRecord, ClaimedDelivery } from '../db/deliveries-consumer';
import type { SystemEventSpec } from './settle';
import { SYSTEM_PREFIX } from './system-events';

const FAILED_OUTCOMES = new Set(['retry', 'gone', 'rejected']);

export function lifecycleEvents(record: AttemptRecord, delivery: Pick<ClaimedDelivery, 'event_id' | 'event' | 'emit_succeeded'>): SystemEventSpec[] {
  if (String(delivery.event.type).startsWith(SYSTEM_PREFIX)) return [];
  const base = { delivery_id: record.delivery_id, subscription_id: record.subscription_id, event_id: delivery.event_id, attempt: record.attempt };
  const spec = (kind: 'failed' | 'succeeded', data: Record<string, unknown>): SystemEventSpec => ({
    tenantId: record.tenant_id,
    type: `switchyard.delivery.${kind}`,
    id: `${kind}-${record.delivery_id}-${record.attempt}`,
    subject: record.delivery_id,
    data: { ...base, ...data },
  });
  if (FAILED_OUTCOMES.has(record.outcome)) {
    return [
      spec('failed', {
        outcome: record.outcome,
        status: record.status_code,
        error: record.error,
        // null once no attempt remains (the delivery is failed; switchyard.delivery.exhausted follows)
        next_attempt_at: record.next_attempt_at,
      }),
    ];
  }
  if (record.outcome === 'delivered' && delivery.emit_succeeded) return [spec('succeeded', { status: record.status_code, latency_ms: record.latency_ms })];
  return [];
}
