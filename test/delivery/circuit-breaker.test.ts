import { createExecutionContext, createScheduledController, waitOnExecutionContext } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import worker from '../../src/index';
import { api, createSource, eventually, ingest, makeEvent, testEnv, withTestDb, type TestSource } from '../fixtures/api';
import { behave, received, receiverPath, waitForRequests } from '../fixtures/receiver';
import { deliveryBodies, eventReceivedAt, recordingEnv, withLogSendingThrough } from '../fixtures/recording-queues';

type Breaker = { state: string; opened_at: string | null; next_probe_at: string | null };
type Subscription = { id: string; status: string; disabled_reason: string | null; breaker: Breaker; consecutive_failures: number };
type Delivery = { id: string; status: string; attempts: number };

/** The Cron Trigger: the redrive sweep, then the breaker probes. */
async function sweep(): Promise<void> {
  const ctx = createExecutionContext();
  await worker.scheduled(createScheduledController({ cron: '* * * * *', scheduledTime: Date.now() }), testEnv, ctx);
  await waitOnExecutionContext(ctx);
}

const probeNow = (id: string) => withTestDb((db) => db.query(`UPDATE subscriptions SET breaker_probe_at = now() - interval '1 second' WHERE id = $1`, [id]));

/** A subscription to an event type of its own, with no retries: each failed attempt fails its delivery. */
async function subscribe(source: TestSource, url: string, extra: Record<string, unknown>): Promise<{ id: string; type: string }> {
  const type = `orders.b${crypto.randomUUID().slice(0, 8)}`;
  const res = await api<{ id: string }>('POST', `/v1/tenants/${source.tenantId}/subscriptions`, {
    types: [type],
    action: { type: 'webhook', config: { url } },
    retry_schedule: [0],
    ...extra,
  });
  if (res.status !== 201) throw new Error(`subscribe: ${res.status} ${JSON.stringify(res.body)}`);
  return { id: res.body.id, type };
}

const subscription = async (source: TestSource, id: string) => (await api<Subscription>('GET', `/v1/tenants/${source.tenantId}/subscriptions/${id}`)).body;
const deliveriesOf = async (source: TestSource, id: string) =>
  (await api<{ data: Delivery[] }>('GET', `/v1/tenants/${source.tenantId}/deliveries?subscription_id=${id}&limit=100`)).body.data;
const systemEvents = async (source: TestSource, type: string) =>
  (await api<{ data: { type: string; data: Record<string, unknown> }[] }>('GET', `/v1/tenants/${source.tenantId}/events?type=${type}`)).body.data;

describe('circuit breaker', () => {
  it('opens after the failure threshold, holds deliveries, and closes on a successful probe, releasing them', async () => {
    const source = await createSource();
    const { path, url } = receiverPath();
    const control = receiverPath();
    await behave(path, { default: { status: 500 } });
    await behave(control.path, { default: { status: 200 } });
    const { id, type } = await subscribe(source, url, { failure_threshold: 2 });
    await api('POST', `/v1/tenants/${source.tenantId}/subscriptions`, { types: [type], action: { type: 'webhook', config: { url: control.url } } });

    await ingest(source, makeEvent({ type }));
    await waitForRequests(path, 1);
    await ingest(source, makeEvent({ type }));
    const opened = await eventually(async () => {
      const s = await subscription(source, id);
      return s.breaker.state === 'open' ? s : null;
    });
    expect(opened).toMatchObject({ status: 'active', consecutive_failures: 2 });
    expect(Date.parse(opened.breaker.next_probe_at!)).toBeGreaterThan(Date.now());
    expect(await eventually(async () => (await systemEvents(source, 'switchyard.subscription.circuit_opened')).length === 1)).toBe(true);

    // while open: new deliveries wait, unattempted (the control subscription shows they were consumed)
    await ingest(
      source,
      [makeEvent({ type, data: { n: 1 } }), makeEvent({ type, data: { n: 2 } }), makeEvent({ type, data: { n: 3 } })],
      'application/cloudevents-batch+json',
    );
    await waitForRequests(control.path, 5);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await received(path)).toHaveLength(2);
    const held = (await deliveriesOf(source, id)).filter((d) => d.status === 'pending');
    expect(held.map((d) => d.attempts)).toEqual([0, 0, 0]);

    // the endpoint is back; the probe goes out when due and its success releases the rest
    await behave(path, { default: { status: 200 } });
    await probeNow(id);
    const { env, sent } = recordingEnv();
    const all = await withLogSendingThrough(env, source.tenantId, async () => {
      await sweep();
      return waitForRequests(path, 5);
    });
    // the probe, then the other two the close released: each message with its event's received_at
    const bodies = deliveryBodies(sent, id);
    const receivedAt = await eventReceivedAt(held.map((d) => d.id));
    expect(bodies).toHaveLength(3);
    expect(new Map(bodies.map((b) => [b.delivery_id, b.event_received_at]))).toEqual(receivedAt);
    expect(receivedAt.size).toBe(3);
    expect(
      all
        .slice(2)
        .map((r) => JSON.parse(r.body).data.n)
        .sort(),
    ).toEqual([1, 2, 3]);
    const closed = await eventually(async () => {
      const s = await subscription(source, id);
      return s.breaker.state === 'closed' ? s : null;
    });
    expect(closed).toMatchObject({ status: 'active', consecutive_failures: 0, breaker: { opened_at: null, next_probe_at: null } });
    expect(await eventually(async () => (await systemEvents(source, 'switchyard.subscription.recovered')).length === 1)).toBe(true);
    const health = await api<{ breaker: Breaker }>('GET', `/v1/tenants/${source.tenantId}/subscriptions/${id}/health`);
    expect(health.body.breaker.state).toBe('closed');
  }, 40_000);

  it('keeps the breaker open after a failed probe, and disables the subscription once it has been open too long', async () => {
    const source = await createSource();
    const { path, url } = receiverPath();
    await behave(path, { default: { status: 500 } });
    const { id, type } = await subscribe(source, url, { failure_threshold: 1, breaker_disable_after_seconds: 120 });
    await ingest(source, makeEvent({ type }));
    await eventually(async () => (await subscription(source, id)).breaker.state === 'open');

    await ingest(source, makeEvent({ type }));
    await eventually(async () => (await deliveriesOf(source, id)).length === 2);
    await probeNow(id);
    await sweep();
    await waitForRequests(path, 2);
    const after = await eventually(async () => {
      const s = await subscription(source, id);
      return s.breaker.state === 'open' && Date.parse(s.breaker.next_probe_at ?? '') > Date.now() ? s : null;
    });
    expect(after.status).toBe('active');
    expect((await deliveriesOf(source, id)).map((d) => d.status).sort()).toEqual(['failed', 'failed']);

    // open for longer than breaker_disable_after_seconds: the next failed probe disables it
    await withTestDb((db) => db.query(`UPDATE subscriptions SET breaker_opened_at = now() - interval '10 minutes' WHERE id = $1`, [id]));
    await ingest(source, makeEvent({ type }));
    await eventually(async () => (await deliveriesOf(source, id)).length === 3);
    await probeNow(id);
    await sweep();
    const disabled = await eventually(async () => {
      const s = await subscription(source, id);
      return s.status === 'disabled' ? s : null;
    });
    expect(disabled).toMatchObject({ breaker: { state: 'closed' }, disabled_reason: expect.stringContaining('circuit breaker') });
    const events = await eventually(async () => {
      const list = await systemEvents(source, 'switchyard.subscription.disabled');
      return list.length === 1 ? list : null;
    });
    expect(events[0]!.data).toMatchObject({ subscription_id: id });
  }, 40_000);
});
