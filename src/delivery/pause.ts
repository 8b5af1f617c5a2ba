/**
 * Subscription status: `active`, `paused` or `disabled`. `enabled` stays as an alias (`enabled: false`
 * is `disabled`); a pause is kept apart from it (`paused_at`), so disabling always wins and re-enabling
 * keeps its old meaning. While paused, the fan-out still plans deliveries (pending) and the consumer
 * holds them: no attempt, no failure. Resuming releases what was held at once, through the same steps
 * as a bulk retry of the subscription's pending deliveries (the TenantLog's redrive, in order for
 * ordered lines); should that fail to start, the redrive sweep sends them within REDRIVE_AFTER_SECONDS.
 */
import type { Db } from '../db/client';
import { insertRetry } from '../db/delivery-retries';
import type { SubscriptionStatus } from '../db/subscriptions';
import { newId } from '../lib/ids';
import type { RetryMessage } from '../lib/queue-messages';
import { systemEvent } from './system-events';
import { shardLog } from '../tenancy/shard-routing';

/** The columns a status request changes; undefined leaves one as it is. */
export interface StatusFields {
  enabled?: boolean;
  paused?: boolean;
}

/**
 * What a request's `status` and `enabled` come to, given the subscription's current status (none on
 * create). Giving both is fine when they agree. `enabled` is written only when it changes the
 * subscription, or when the request names it (re-enabling resets the failure count, as it always did).
 */
export function statusFields(
  request: { status?: SubscriptionStatus; enabled?: boolean },
  current?: SubscriptionStatus,
): { ok: true; fields: StatusFields } | { ok: false; detail: string } {
  const { status, enabled } = request;
  if (status !== undefined && enabled !== undefined && (status === 'disabled') !== !enabled)
    return { ok: false, detail: `enabled: ${enabled} contradicts status: ${status} (enabled is false exactly when status is disabled)` };
  const wasDisabled = current === undefined || current === 'disabled';
  switch (status) {
    case 'disabled':
      return { ok: true, fields: { enabled: false, paused: false } };
    case 'paused':
    case 'active':
      return { ok: true, fields: { ...(wasDisabled || enabled !== undefined ? { enabled: true } : {}), paused: status === 'paused' } };
    case undefined:
      if (enabled === undefined) return { ok: true, fields: {} };
      // `enabled: true` ends a disabled state, not a pause
      return { ok: true, fields: enabled ? { enabled: true, ...(wasDisabled ? { paused: false } : {}) } : { enabled: false, paused: false } };
  }
}

export type StatusTransition = 'paused' | 'resumed';

export function transitionOf(before: SubscriptionStatus | undefined, after: SubscriptionStatus): StatusTransition | null {
  if (after === 'paused' && before !== 'paused') return 'paused';
  if (after === 'active' && before === 'paused') return 'resumed';
  return null;
}

/**
 * After a pause or resume has committed: a resume starts the release of the held deliveries; both emit
 * `switchyard.subscription.paused` / `.resumed`. The change itself stands whatever happens here: a
 * release that cannot start is left to the redrive sweep (the held deliveries are pending and
 * untouched, so it finds them), and an event that cannot be appended is logged.
 */
export async function announceTransition(
  env: Pick<Env, 'DELIVERY_QUEUE' | 'TENANT_LOG'>,
  db: Db,
  tenantId: string,
  subscriptionId: string,
  transition: StatusTransition,
): Promise<void> {
  let release: { id: string; matched: number } | null = null;
  try {
    if (transition === 'resumed') release = await releaseHeld(env, db, tenantId, subscriptionId);
    const data = { subscription_id: subscriptionId, ...(release ? { release_id: release.id, held: release.matched } : {}) };
    const event = await systemEvent(`switchyard.subscription.${transition}`, `${transition}-${subscriptionId}-${Date.now()}`, subscriptionId, data);
    await shardLog(env, tenantId, 0).appendSystem(tenantId, [event]);
  } catch (error) {
    console.warn(
      JSON.stringify({ msg: `subscription ${transition}: release or event failed`, tenantId, subscriptionId, release: release?.id, error: String(error) }),
    );
  }
}

/**
 * Sends a subscription's held deliveries (those due) again, in order for ordered lines: a bulk retry of
 * kind `resume` over its pending deliveries, worked off by the queue consumer. Used when a pause ends
 * and when a circuit breaker closes.
 */
export async function releaseHeld(
  env: Pick<Env, 'DELIVERY_QUEUE'>,
  db: Db,
  tenantId: string,
  subscriptionId: string,
): Promise<{ id: string; matched: number }> {
  const release = await insertRetry(db, newId('rty'), tenantId, 'resume', { status: 'pending', subscription_id: subscriptionId });
  await env.DELIVERY_QUEUE.send({ type: 'retry.v1', tenant_id: tenantId, retry_id: release.id } satisfies RetryMessage, { contentType: 'json' });
  return release;
}
