import { describe, expect, it } from 'vitest';
import type { ClaimedDelivery } from '../../src/db/deliveries-consumer';
import type { AttemptResult } from '../../src/delivery/attempt';
import { disabledSubscriptionEvents, settle, type DeliveryRef, type SettleInput } from '../../src/delivery/settle';

const NOW = Date.parse('2026-01-02T03:04:05.000Z');
const STARTED = new Date(NOW - 250);

function delivery(overrides: Partial<ClaimedDelivery> = {}): ClaimedDelivery {
  return {
    id: 'dlv_1',
    tenant_id: 'tn_1',
    subscription_id: 'sub_1',
    event_id: 'evt_1',
    partition_key: null,
    attempts: 1,
    schedule_offset: 0,
    event: { type: 'order.created' },
    subscription_enabled: true,
    ordering: 'none',
    retry_schedule: null,
    action_plugin_id: null,
    action_type: 'webhook',
    action_config: {},
    transformer_type: null,
    transformer_config: null,
    transformer_name: null,
    sealed_secrets: [],
    ...overrides,
  };
}

const message = (partitionKey: string | null = null): DeliveryRef => ({
  tenant_id: 'tn_1',
  delivery_id: 'dlv_1',
  subscription_id: 'sub_1',
  partition_key: partitionKey,
});

/** No jitter: `random` at the middle of [0, 1). */
function attempted(result: AttemptResult, d: Partial<ClaimedDelivery> = {}, partitionKey: string | null = null): SettleInput {
  return {
    message: message(partitionKey),
    state: { kind: 'attempted', delivery: delivery({ partition_key: partitionKey, ...d }), run: { result, startedAt: STARTED, latencyMs: 250 } },
    now: NOW,
    scale: 1,
    random: () => 0.5,
  };
}

describe('settle: what a delivery message comes to', () => {
  it('acks, records delivered and releases the ordered line when the receiver took the event', () => {
    const s = settle(attempted({ kind: 'delivered', status: 204, responseBody: '' }, {}, 'customer-7'));
    expect(s).toEqual({
      kind: 'ack',
      record: {
        tenant_id: 'tn_1',
        delivery_id: 'dlv_1',
        subscription_id: 'sub_1',
        attempt: 1,
        started_at: STARTED.toISOString(),
        latency_ms: 250,
        outcome: 'delivered',
        status_code: 204,
        error: null,
        response_body: '',
        status: 'delivered',
        next_attempt_at: null,
      },
      gone: null,
      events: [],
      release: { tenantId: 'tn_1', subscriptionId: 'sub_1', partitionKey: 'customer-7', deliveryId: 'dlv_1', shard: 0 },
      deadLetter: false,
    });
  });

  it('retries after the schedule when a retryable attempt has attempts left, recording it pending', () => {
    const s = settle(attempted({ kind: 'retry', status: 503, error: 'HTTP 503' }));
    expect(s).toMatchObject({
      kind: 'retry',
      delaySeconds: 5,
      record: { status: 'pending', outcome: 'retry', status_code: 503, error: 'HTTP 503', next_attempt_at: new Date(NOW + 5_000).toISOString() },
    });
  });

  it('retries after Retry-After capped at one hour when the receiver asks for a day', () => {
    const s = settle(attempted({ kind: 'retry', status: 429, error: 'HTTP 429', retryAfterSeconds: 86_400 }));
    expect(s).toMatchObject({ kind: 'retry', delaySeconds: 3600, record: { status: 'pending', next_attempt_at: new Date(NOW + 3_600_000).toISOString() } });
  });

  it('counts attempts from a manual retry when the schedule was restarted', () => {
    // attempt 3 overall, the first after a manual retry at 2: the wait before attempt 2 of the schedule applies
    const s = settle(attempted({ kind: 'retry', error: 'timeout' }, { attempts: 3, schedule_offset: 2, retry_schedule: [0, 7, 60] }));
    expect(s).toMatchObject({ kind: 'retry', delaySeconds: 7 });
  });

  it('marks the delivery failed, dead-letters it and emits switchyard.delivery.exhausted when the last attempt fails', () => {
    const s = settle(attempted({ kind: 'retry', status: 500, error: 'HTTP 500', responseBody: 'boom' }, { attempts: 2, retry_schedule: [0, 1] }, 'customer-7'));
    expect(s).toEqual({
      kind: 'ack',
      record: expect.objectContaining({
        attempt: 2,
        outcome: 'retry',
        status: 'failed',
        status_code: 500,
        error: 'HTTP 500',
        response_body: 'boom',
        next_attempt_at: null,
      }),
      gone: null,
      events: [
        {
          tenantId: 'tn_1',
          type: 'switchyard.delivery.exhausted',
          id: 'exhausted-dlv_1',
          subject: 'dlv_1',
          data: {
            delivery_id: 'dlv_1',
            subscription_id: 'sub_1',
            event_id: 'evt_1',
            attempts: 2,
            last_outcome: 'retry',
            last_status: 500,
            last_error: 'HTTP 500',
          },
        },
      ],
      release: { tenantId: 'tn_1', subscriptionId: 'sub_1', partitionKey: 'customer-7', deliveryId: 'dlv_1', shard: 0 },
      deadLetter: true,
    });
  });

  it('emits no exhausted event when the failed delivery carried a system event', () => {
    const s = settle(attempted({ kind: 'rejected', status: 400, error: 'HTTP 400' }, { event: { type: 'switchyard.delivery.exhausted' } }));
    expect(s).toMatchObject({ kind: 'ack', record: { status: 'failed' }, events: [], deadLetter: true });
  });

  it('fails the delivery and names its subscription to disable when the endpoint answers 410 Gone', () => {
    const s = settle(attempted({ kind: 'gone', status: 410, error: 'HTTP 410' }));
    expect(s).toMatchObject({ kind: 'ack', gone: 'sub_1', record: { outcome: 'gone', status: 'failed', status_code: 410 }, deadLetter: true });
    expect(s.kind === 'ack' && s.events.map((e) => e.type)).toEqual(['switchyard.delivery.exhausted']);
  });

  it('emits switchyard.subscription.disabled for each subscription recording disabled, and only those', () => {
    const events = disabledSubscriptionEvents(
      [
        { id: 'sub_1', tenant_id: 'tn_1', consecutive_failures: 1, disabled_now: true },
        { id: 'sub_2', tenant_id: 'tn_1', consecutive_failures: 3, disabled_now: false },
      ],
      NOW,
    );
    expect(events).toEqual([
      {
        tenantId: 'tn_1',
        type: 'switchyard.subscription.disabled',
        id: `disabled-sub_1-${NOW}`,
        subject: 'sub_1',
        data: { subscription_id: 'sub_1', consecutive_failures: 1 },
      },
    ]);
  });

  it('acks and records skipped, with the reason, when a transformer dropped the event', () => {
    const s = settle(attempted({ kind: 'skipped', reason: 'dropped by transformer redact' }, {}, 'customer-7'));
    expect(s).toMatchObject({
      kind: 'ack',
      record: { outcome: 'skipped', status: 'skipped', error: 'dropped by transformer redact', status_code: null },
      events: [],
      release: { partitionKey: 'customer-7' },
      deadLetter: false,
    });
  });

  it('retries after the lease, records nothing and releases nothing when another consumer holds the delivery', () => {
    expect(settle({ message: message('customer-7'), state: { kind: 'leased', leaseLeftSeconds: 42 }, now: NOW, scale: 1 })).toEqual({
      kind: 'retry',
      delaySeconds: 43,
      record: null,
    });
    // a lease that is just over still waits a moment, never 0 s
    expect(settle({ message: message(), state: { kind: 'leased', leaseLeftSeconds: 0 }, now: NOW, scale: 1 })).toMatchObject({
      kind: 'retry',
      delaySeconds: 2,
    });
  });

  it('acks a duplicate message and releases its line when the delivery is already finished', () => {
    expect(settle({ message: message('customer-7'), state: { kind: 'finished' }, now: NOW, scale: 1 })).toEqual({
      kind: 'ack',
      record: null,
      gone: null,
      events: [],
      deadLetter: false,
      release: { tenantId: 'tn_1', subscriptionId: 'sub_1', partitionKey: 'customer-7', deliveryId: 'dlv_1', shard: 0 },
    });
  });

  it('acks without a record or release when another copy in the batch carries the attempt, or the delivery is gone', () => {
    for (const kind of ['repeated', 'missing'] as const) {
      expect(settle({ message: message('customer-7'), state: { kind }, now: NOW, scale: 1 })).toEqual({
        kind: 'ack',
        record: null,
        gone: null,
        events: [],
        release: null,
        deadLetter: false,
      });
    }
  });
});
