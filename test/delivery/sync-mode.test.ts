import { describe, expect, it } from 'vitest';
import { api, createSource, eventually, ingest, makeEvent, type TestSource, subscribeWebhook } from '../fixtures/api';
import { behave, received, receiverPath, waitForRequests } from '../fixtures/receiver';
import { ingestWith, recordingEnv } from '../fixtures/recording-queues';

type Delivery = { id: string; status: string; attempts: number; subscription_id: string };
type Accepted = { id: string; sequence: number; duplicate: boolean; actions?: { subscription_id: string; status: string; response_status?: number }[] };
type Attempt = { attempt: number; outcome: string; status_code: number | null };

const subscribe = subscribeWebhook;

const deliveriesOf = async (source: TestSource, subscriptionId: string) =>
  (await api<{ data: Delivery[] }>('GET', `/v1/tenants/${source.tenantId}/deliveries?subscription_id=${subscriptionId}`)).body.data;

async function delivered(source: TestSource, subscriptionId: string): Promise<Delivery> {
  const [d] = await eventually(async () => {
    const list = await deliveriesOf(source, subscriptionId);
    return list.length === 1 && list[0]!.status === 'delivered' ? list : null;
  }, 15_000);
  return d!;
}

describe('sync mode', () => {
  it('delivers inside the ingest request, reports it in the 202, and the queue does not deliver it again', async () => {
    const source = await createSource();
    const sync = receiverPath();
    const control = receiverPath();
    await behave(sync.path, { default: { status: 201 } });
    await behave(control.path, { default: { status: 200 } });
    const sub = await subscribe(source, sync.url, { mode: 'sync', sync_timeout_ms: 2_000 });
    expect(sub).toMatchObject({ mode: 'sync', sync_timeout_ms: 2_000, delay_seconds: 0, emit_succeeded: false });
    await subscribe(source, control.url);

    const event = makeEvent();
    const res = await ingest(source, event);
    expect(res.status).toBe(202);
    const body = await res.json<Accepted>();
    expect(body).toMatchObject({ duplicate: false, actions: [{ subscription_id: sub.id, status: 'delivered', response_status: 201 }] });
    // delivered before the 202 was written
    expect(await received(sync.path)).toHaveLength(1);

    // the async subscription's delivery came through the queue; the sync one's message came with it and found it taken
    await waitForRequests(control.path, 1);
    const d = await delivered(source, sub.id);
    expect(d.attempts).toBe(1);
    expect(await received(sync.path)).toHaveLength(1);

    // a resend of the same event is a duplicate: nothing runs again
    const again = await ingest(source, event);
    expect(await again.json<Accepted>()).toEqual({ id: body.id, sequence: body.sequence, duplicate: true });
    expect(await received(sync.path)).toHaveLength(1);
  });

  it('hands a failed and a timed-out sync action to the retries, and emits lifecycle events a tenant can subscribe to', async () => {
    const source = await createSource();
    const failing = receiverPath();
    const slow = receiverPath();
    const lifecycle = receiverPath();
    await behave(failing.path, { responses: [{ status: 503 }], default: { status: 200 } });
    await behave(slow.path, { responses: [{ status: 200, delayMs: 2_000 }], default: { status: 200 } });
    // the lifecycle receiver fails its first delivery too: that must not emit an event about itself
    await behave(lifecycle.path, { responses: [{ status: 500 }], default: { status: 200 } });
    const fail = await subscribe(source, failing.url, { mode: 'sync', retry_schedule: [0, 1], emit_succeeded: true });
    const late = await subscribe(source, slow.url, { mode: 'sync', sync_timeout_ms: 300, retry_schedule: [0, 1] });
    const hooks = await subscribe(source, lifecycle.url, { types: ['switchyard.delivery.*'], retry_schedule: [0, 1] });

    const res = await ingest(source, makeEvent());
    expect(res.status).toBe(202);
    const { actions } = await res.json<Accepted>();
    expect(actions).toEqual(
      expect.arrayContaining([
        { subscription_id: fail.id, status: 'failed', response_status: 503 },
        { subscription_id: late.id, status: 'timeout' },
      ]),
    );

    // each retried once, by the queue, and delivered once
    for (const sub of [fail, late]) {
      const d = await delivered(source, sub.id);
      expect(d.attempts).toBe(2);
      const detail = await api<{ attempt_log: Attempt[] }>('GET', `/v1/tenants/${source.tenantId}/deliveries/${d.id}`);
      expect(detail.body.attempt_log.map((a) => a.outcome)).toEqual(['retry', 'delivered']);
    }
    expect(await received(failing.path)).toHaveLength(2);

    // failed (twice: the two sync attempts) and succeeded (the failing one opted in) reach the lifecycle subscription
    const events = await eventually(async () => {
      const bodies = (await received(lifecycle.path)).map((r) => JSON.parse(r.body) as { id: string; type: string; data: Record<string, unknown> });
      const unique = [...new Map(bodies.map((b) => [b.id, b])).values()];
      return unique.length >= 3 ? unique : null;
    }, 15_000);
    const byType = (type: string) => events.filter((e) => e.type === type).map((e) => e.data);
    expect(byType('switchyard.delivery.failed')).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ subscription_id: fail.id, attempt: 1, outcome: 'retry', status: 503, next_attempt_at: expect.any(String) }),
        expect.objectContaining({ subscription_id: late.id, attempt: 1, outcome: 'retry', status: null }),
      ]),
    );
    expect(byType('switchyard.delivery.succeeded')).toEqual([expect.objectContaining({ subscription_id: fail.id, attempt: 2, status: 200 })]);
    // never about the delivery of a lifecycle event, though the lifecycle receiver failed once
    const stored = await api<{ data: { data: { subscription_id: string } }[] }>('GET', `/v1/tenants/${source.tenantId}/events?type=switchyard.delivery.failed`);
    expect(stored.body.data.map((e) => e.data.subscription_id)).not.toContain(hooks.id);
  }, 20_000);

  it("dead-letters a sync delivery that used up its attempts with its event's received_at", async () => {
    const source = await createSource();
    const { path, url } = receiverPath();
    await behave(path, { default: { status: 500 } });
    // one attempt: the sync one
    const sub = await subscribe(source, url, { mode: 'sync', retry_schedule: [0] });

    const { env, sent } = recordingEnv();
    const res = await ingestWith(env, source, makeEvent());
    expect(res.status).toBe(202);
    const body = await res.json<Accepted>();
    expect(body.actions).toEqual([{ subscription_id: sub.id, status: 'failed', response_status: 500 }]);
    const [failed] = await eventually(async () => {
      const list = await deliveriesOf(source, sub.id);
      return list.length === 1 && list[0]!.status === 'failed' ? list : null;
    });
    const event = await eventually(async () => {
      const found = await api<{ received_at: string }>('GET', `/v1/tenants/${source.tenantId}/events/${body.id}`);
      return found.status === 200 ? found.body : null;
    });
    expect(sent.filter((m) => m.queue === 'DEAD_LETTER_QUEUE').map((m) => m.body)).toEqual([
      {
        reason: 'exhausted',
        type: 'delivery.v1',
        tenant_id: source.tenantId,
        delivery_id: failed!.id,
        subscription_id: sub.id,
        partition_key: null,
        event_received_at: Date.parse(event.received_at),
      },
    ]);
    expect(await received(path)).toHaveLength(1);
  });

  it('refuses sync mode on an ordered subscription or with a delay', async () => {
    const source = await createSource();
    const { url } = receiverPath();
    for (const extra of [{ ordering: 'partition' }, { delay_seconds: 10 }]) {
      const res = await api('POST', `/v1/tenants/${source.tenantId}/subscriptions`, {
        types: ['orders.*'],
        action: { type: 'webhook', config: { url } },
        mode: 'sync',
        ...extra,
      });
      expect(res.status).toBe(422);
      expect(res.body).toMatchObject({ code: 'sync_mode_conflict' });
    }
  });
});
