/**
 * Which subscriptions get a delivery for which events: every enabled subscription whose type
 * patterns and `where` filter match. Pure; the TenantLog runs it on each flushed batch.
 * Delivery ids are derived from (subscription, event), so re-flushing a batch after a crash yields
 * the same ids and Postgres's `ON CONFLICT DO NOTHING` keeps one delivery each.
 */
import { sha256Hex } from '../lib/encoding';
import { matchesAny } from '../lib/type-pattern';
import { compileFilter, type Predicate } from './filter';
import { deliveryPriority } from './lanes';
import type { Priority } from '../lib/priority';
import { SYSTEM_PREFIX } from './system-events';

export interface Route {
  id: string;
  types: string[];
  ordering: 'none' | 'partition';
  test: Predicate | null;
  /** The subscription's default lane for events without a `priority` of their own. */
  priority: Priority | null;
  /** The subscription's `delay_seconds` (./schedule.ts). */
  delaySeconds: number;
}

export interface RoutedEvent {
  id: string;
  sequence: number;
  type: string;
  subject: string | null;
  partition_key: string | null;
  /** The event's `priority` attribute as stored (validated at ingest); absent or null: none. */
  priority?: unknown;
  /** The event's `deliverat` as stored and its receipt (epoch ms), for the schedule (./schedule.ts). */
  deliverat?: unknown;
  received_at?: number;
  /** The CloudEvent JSON, parsed only when a filter needs it. */
  event: string;
}

export interface PlannedDelivery {
  id: string;
  subscriptionId: string;
  eventId: string;
  sequence: number;
  ordered: boolean;
  partitionKey: string;
  /** The lane: the event's priority, else the subscription's default, else normal. */
  priority: Priority;
  /** The event's `received_at` (epoch ms), when the fan-out read it: the queue message carries it. */
  receivedAt?: number;
}

export function compileRoutes(
  rows: { id: string; types: string[]; filter: unknown; ordering: 'none' | 'partition'; priority?: Priority | null; delay_seconds?: number }[],
): Route[] {
  return rows.map((row) => {
    const compiled = row.filter == null ? null : compileFilter(row.filter);
    // filters are validated when saved; one that no longer compiles matches nothing rather than everything
    const test = compiled === null ? null : compiled.ok ? compiled.test : () => false;
    return { id: row.id, types: row.types, ordering: row.ordering, test, priority: row.priority ?? null, delaySeconds: row.delay_seconds ?? 0 };
  });
}

export async function planDeliveries(events: RoutedEvent[], routes: Route[]): Promise<PlannedDelivery[]> {
  const planned: PlannedDelivery[] = [];
  for (const event of events) {
    let parsed: Record<string, unknown> | undefined;
    const system = event.type.startsWith(SYSTEM_PREFIX);
    for (const route of routes) {
      // system events go only to subscriptions that ask for them by name, never to a bare `**`
      if (system && !route.types.some((t) => t.startsWith(SYSTEM_PREFIX))) continue;
      if (!matchesAny(route.types, event.type)) continue;
      if (route.test) {
        parsed ??= JSON.parse(event.event) as Record<string, unknown>;
        if (!route.test(parsed)) continue;
      }
      planned.push({
        id: await deliveryId(route.id, event.id),
        subscriptionId: route.id,
        eventId: event.id,
        sequence: event.sequence,
        ordered: route.ordering === 'partition',
        partitionKey: event.partition_key ?? event.subject ?? '',
        priority: deliveryPriority(event.priority, route.priority),
        ...(event.received_at !== undefined ? { receivedAt: event.received_at } : {}),
      });
    }
  }
  return planned;
}

const BASE32 = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

export async function deliveryId(subscriptionId: string, eventId: string): Promise<string> {
  const hex = await sha256Hex(`${subscriptionId}:${eventId}`);
  let id = 'dlv_';
  for (let i = 0; i < 26; i++) id += BASE32[parseInt(hex.slice(i * 2, i * 2 + 2), 16) % 32];
  return id;
}
