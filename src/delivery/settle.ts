/**
 * What one delivery message comes to once the batch's claim and attempts are done. Pure: the clock and
 * randomness come in as arguments and nothing here touches a binding or the database.
 *
 * The consumer carries a settlement out in this order, which the rules below rely on:
 * 1. every `record` of the batch is written in one round trip (`gone` subscriptions are disabled in it);
 * 2. the system `events` are emitted, and those of {@link disabledSubscriptionEvents} for what step 1
 *    disabled, only once the attempts are on record;
 * 3. per message: the ordered line is released, the message dead-lettered, and acked, or it is retried.
 * If step 1 fails, no message is settled: the whole batch is retried once its leases are over.
 */
import type { AttemptRecord, ClaimedDelivery, SubscriptionHealth } from '../db/deliveries-consumer';
import type { AttemptResult } from './attempt';
import { nextStep, QUEUE_MAX_DELAY_SECONDS, retryPolicy, type RetryPolicy } from './retry-policy';
import { SYSTEM_PREFIX } from './system-events';

/** The delivery a queue message names; a `delivery.v1` body is one. */
export interface DeliveryRef {
  tenant_id: string;
  delivery_id: string;
  subscription_id: string;
  /** Set for ordered subscriptions: the line to release once the delivery ends. */
  partition_key: string | null;
  /** The tenant's shard whose ordered line holds it; absent: 0. */
  shard?: number;
}

export interface AttemptRun {
  result: AttemptResult;
  startedAt: Date;
  latencyMs: number;
}

/** Where a message's delivery stands after the batch's claim (and attempt, if it claimed it). */
export type DeliveryState =
  /** Claimed by this batch, and this message is the first copy in the batch that names it. */
  | { kind: 'attempted'; delivery: ClaimedDelivery; run: AttemptRun }
  /** Claimed by this batch, but an earlier copy of the message carries the attempt. */
  | { kind: 'repeated' }
  /** Pending and leased: another consumer holds it, or one that failed after claiming it did. */
  | { kind: 'leased'; leaseLeftSeconds: number }
  /** Delivered, failed or skipped already: the message is a duplicate. */
  | { kind: 'finished' }
  /** No such delivery (its subscription was deleted). */
  | { kind: 'missing' }
  /**
   * Pending, and its subscription is paused: not attempted. The message is acknowledged (a pause may
   * last days; a message retried meanwhile would run out its retries), the delivery stays pending, and
   * an ordered line keeps it in flight; resuming sends it again (src/queues/retry-step.ts).
   */
  | { kind: 'held' }
  /**
   * Scheduled and not claimed: not yet due (an ordered line's head sent when its turn came, a message
   * that came early), or due while its subscription holds it. Never the end of the delivery: an
   * ordered line keeps it in flight (src/delivery/schedule.ts).
   */
  | { kind: 'scheduled'; dueInSeconds: number; held: boolean };

/** A system event to emit into a tenant's stream; `systemEvent` turns it into an append. */
export interface SystemEventSpec {
  tenantId: string;
  type: string;
  id: string;
  subject: string;
  data: Record<string, unknown>;
}

/** Tells the TenantLog that an ordered delivery ended, so the next one of its line goes out. */
export interface OrderedRelease {
  tenantId: string;
  subscriptionId: string;
  partitionKey: string;
  deliveryId: string;
  shard: number;
}

export type Settlement =
  | { kind: 'retry'; delaySeconds: number; record: AttemptRecord | null }
  | {
      kind: 'ack';
      record: AttemptRecord | null;
      /** A subscription whose endpoint answered 410 Gone: disabled outright by the recording. */
      gone: string | null;
      events: SystemEventSpec[];
      release: OrderedRelease | null;
      deadLetter: boolean;
    };

export interface SettleInput {
  message: DeliveryRef;
  state: DeliveryState;
  /** Epoch ms; the base of `next_attempt_at`. */
  now: number;
  /** Multiplies every retry delay (`RETRY_SCALE`); the schedule is the subscription's own or the default. */
  scale: number;
  /** Like `Math.random`, for the retry jitter. */
  random?: () => number;
}

export function settle({ message, state, now, scale, random }: SettleInput): Settlement {
  switch (state.kind) {
    case 'leased':
      // try again once the lease is over (a duplicate then finds it finished); never drop it
      return { kind: 'retry', delaySeconds: Math.max(1, state.leaseLeftSeconds) + 1, record: null };
    case 'repeated':
    case 'missing':
    case 'held':
      return ack(message, null, false);
    case 'finished':
      return ack(message, null, true);
    case 'scheduled':
      // the queue holds what it can of the wait; a longer one, or a held one, is the schedule sweep's
      return !state.held && state.dueInSeconds <= QUEUE_MAX_DELAY_SECONDS
        ? { kind: 'retry', delaySeconds: Math.max(1, state.dueInSeconds), record: null }
        : ack(message, null, false);
    case 'attempted':
      return settleAttempt(
        message,
        state.delivery,
        state.run,
        now,
        retryPolicy({ scheduleSeconds: state.delivery.retry_schedule ?? undefined, scale, random }),
      );
  }
}

function settleAttempt(message: DeliveryRef, d: ClaimedDelivery, run: AttemptRun, now: number, policy: RetryPolicy): Settlement {
  const { result } = run;
  let status: AttemptRecord['status'];
  let retry: { delaySeconds: number; nextAt: string } | null = null;
  switch (result.kind) {
    case 'delivered':
    case 'skipped':
      status = result.kind;
      break;
    case 'retry': {
      // a manual retry restarts the schedule: attempts before it do not count
      const step = nextStep(Math.max(1, d.attempts - d.schedule_offset), result, policy);
      if (step.kind === 'retry') retry = { delaySeconds: step.delaySeconds, nextAt: new Date(now + step.delayMs).toISOString() };
      status = retry ? 'pending' : 'failed';
      break;
    }
    case 'gone':
    case 'rejected':
      status = 'failed';
  }
  const record: AttemptRecord = {
    tenant_id: d.tenant_id,
    delivery_id: d.id,
    subscription_id: d.subscription_id,
    attempt: d.attempts,
    started_at: run.startedAt.toISOString(),
    latency_ms: run.latencyMs,
    outcome: result.kind,
    status_code: 'status' in result ? (result.status ?? null) : null,
    error: 'error' in result ? result.error : result.kind === 'skipped' ? result.reason : null,
    response_body: 'responseBody' in result ? (result.responseBody ?? null) : null,
    status,
    next_attempt_at: retry?.nextAt ?? null,
  };
  if (retry) return { kind: 'retry', delaySeconds: retry.delaySeconds, record };
  const failed = status === 'failed';
  // no system event about the delivery of a system event, so failures cannot chain
  const exhausted: SystemEventSpec[] =
    failed && !String(d.event.type).startsWith(SYSTEM_PREFIX)
      ? [
          {
            tenantId: d.tenant_id,
            type: 'switchyard.delivery.exhausted',
            id: `exhausted-${d.id}`,
            subject: d.id,
            data: {
              delivery_id: d.id,
              subscription_id: d.subscription_id,
              event_id: d.event_id,
              attempts: d.attempts,
              last_outcome: record.outcome,
              last_status: record.status_code,
              last_error: record.error,
            },
          },
        ]
      : [];
  return { ...ack(message, record, true), gone: result.kind === 'gone' ? d.subscription_id : null, events: exhausted, deadLetter: failed };
}

function ack(message: DeliveryRef, record: AttemptRecord | null, ended: boolean): Extract<Settlement, { kind: 'ack' }> {
  const release =
    ended && message.partition_key !== null
      ? {
          tenantId: message.tenant_id,
          subscriptionId: message.subscription_id,
          partitionKey: message.partition_key,
          deliveryId: message.delivery_id,
          shard: message.shard ?? 0,
        }
      : null;
  return { kind: 'ack', record, gone: null, events: [], release, deadLetter: false };
}

/** The `switchyard.subscription.disabled` events for subscriptions that recording the batch disabled. */
export function disabledSubscriptionEvents(health: readonly SubscriptionHealth[], now: number): SystemEventSpec[] {
  return health
    .filter((h) => h.disabled_now)
    .map((h) => ({
      tenantId: h.tenant_id,
      type: 'switchyard.subscription.disabled',
      id: `disabled-${h.id}-${now}`,
      subject: h.id,
      data: { subscription_id: h.id, consecutive_failures: h.consecutive_failures },
    }));
}
