/**
 * A circuit breaker per subscription, on top of the hold a pause uses. Closed: deliveries are
 * attempted. Open: after `failure_threshold` consecutive failed attempts (the consumer's recording
 * opens it, src/db/deliveries-consumer.ts) the endpoint gets no attempts; new and pending deliveries
 * wait, pending and unattempted. Half-open: when its probe is due, the redrive sweep (every minute)
 * lets one pending delivery through; a success closes the breaker and releases what waited, a failure
 * schedules the next probe (a minute after opening, then a quarter of the time it has been open, at
 * most an hour). A subscription whose breaker stays open for `breaker_disable_after_seconds` (default 5
 * days, as Svix) is disabled by its next failed probe. Events: `switchyard.subscription.circuit_opened`,
 * `.recovered`, and `.disabled` as before.
 */
import type { Db } from '../db/client';
import type { SubscriptionHealth } from '../db/deliveries-consumer';
import { pickProbes, setProbe } from '../db/breaker';
import { releaseHeld } from './pause';
import type { SystemEventSpec } from './settle';
import { shardOfSequence } from '../tenancy/shard-routing';
import { redriveOnShard } from '../tenancy/line-follow';

/** Open breakers probed per sweep. */
const PROBES_PER_SWEEP = 100;

export type BreakerState = 'closed' | 'open' | 'half_open';

export function breakerState(row: { breaker_opened_at: string | null; breaker_probe_id: string | null }): BreakerState {
  if (row.breaker_opened_at === null) return 'closed';
  return row.breaker_probe_id === null ? 'open' : 'half_open';
}

/** The `circuit_opened` / `recovered` events for what recording a batch did to breakers. */
export function breakerEvents(health: readonly SubscriptionHealth[], now: number): SystemEventSpec[] {
  return health.flatMap((h) => {
    const type = h.opened_now ? 'circuit_opened' : h.recovered_now ? 'recovered' : null;
    if (!type) return [];
    const data = { subscription_id: h.id, consecutive_failures: h.consecutive_failures };
    return [{ tenantId: h.tenant_id, type: `switchyard.subscription.${type}`, id: `${type}-${h.id}-${now}`, subject: h.id, data }];
  });
}

/**
 * After a batch closed breakers: what waited behind them goes out now. A release that cannot start is
 * logged, not thrown (the attempts are on record): the redrive sweep sends those deliveries later.
 */
export async function releaseRecovered(env: Pick<Env, 'DELIVERY_QUEUE'>, db: Db, health: readonly SubscriptionHealth[]): Promise<void> {
  for (const h of health) {
    if (!h.recovered_now) continue;
    await releaseHeld(env, db, h.tenant_id, h.id).catch((error: unknown) =>
      console.warn(JSON.stringify({ msg: 'breaker closed; releasing held deliveries failed', subscriptionId: h.id, error: String(error) })),
    );
  }
}

/**
 * Sends the due probes through their TenantLogs. An ordered line's delivery that waits behind its
 * in-flight head cannot go first: the head becomes the probe and is sent again instead.
 */
export async function probeOpenBreakers(db: Db, env: Pick<Env, 'TENANT_LOG'>): Promise<number> {
  const probes = await pickProbes(db, PROBES_PER_SWEEP);
  for (const p of probes) {
    // the shard that held the line when the event was stored; a line moved since is followed (tenancy/line-follow.ts)
    const shard = shardOfSequence(p.event_sequence);
    try {
      const { resent, blockers } = await redriveOnShard(env, p.tenant_id, shard, [
        { id: p.id, subscriptionId: p.subscription_id, partitionKey: p.partition_key, priority: p.priority, receivedAt: p.event_received_at },
      ]);
      const head = blockers[0];
      if (resent === 0 && head) {
        await setProbe(db, p.subscription_id, head.id);
        await redriveOnShard(env, p.tenant_id, shard, [head]);
      }
    } catch (error) {
      // the next probe is scheduled already
      console.warn(JSON.stringify({ msg: 'breaker probe failed to send', subscriptionId: p.subscription_id, error: String(error) }));
    }
  }
  return probes.length;
}
