import { describe, expect, it } from 'vitest';
import { settle } from '../../src/delivery/settle';
import { api, createSource, eventually, ingest, makeEvent, type TestSource, subscribeWebhook } from '../fixtures/api';
import { behave, received, receiverPath, waitForRequests } from '../fixtures/receiver';

type Delivery = { id: string; status: string; attempts: number; subscription_id: string };
type Subscription = { id: string; status: string; enabled: boolean; paused_at: string | null; disabled_reason: string | null; consecutive_failures: number };

const subscribe = subscribeWebhook<Subscription>;

const setStatus = (source: TestSource, id: string, body: Record<string, unknown>) =>
  api<Subscription & { code?: string }>('PATCH', `/v1/tenants/${source.tenantId}/subscriptions/${id}`, body);

const deliveriesOf = async (source: TestSource, subscriptionId: string) =>
  (await api<{ data: Delivery[] }>('GET', `/v1/tenants/${source.tenantId}/deliveries?subscription_id=${subscriptionId}&limit=100`)).body.data;

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('pausing a subscription', () => {
  it('holds new deliveries pending and unattempted while paused, and releases every one on resume', async () => {
    const source = await createSource();
    const held = receiverPath();
    const control = receiverPath();
    await behave(held.path, { default: { status: 200 } });
    await behave(control.path, { default: { status: 200 } });
    const sub = await subscribe(source, held.url);
    // a second, active subscription on the same events: once it has them, the paused one would have too
    await subscribe(source, control.url);

    const paused = await setStatus(source, sub.id, { status: 'paused' });
    expect(paused.status).toBe(200);
    expect(paused.body).toMatchObject({ status: 'paused', enabled: true });
    expect(paused.body.paused_at).toEqual(expect.any(String));

    const events = Array.from({ length: 5 }, (_, n) => makeEvent({ data: { n } }));
    expect((await ingest(source, events, 'application/cloudevents-batch+json')).status).toBe(202);
    await waitForRequests(control.path, 5);
    await pause(1_000);
    expect(await received(held.path)).toHaveLength(0);
    const pending = await eventually(async () => {
      const list = await deliveriesOf(source, sub.id);
      return list.length === 5 ? list : null;
    });
    expect(pending.map((d) => [d.status, d.attempts])).toEqual(Array(5).fill(['pending', 0]));

    const resumed = await setStatus(source, sub.id, { status: 'active' });
    expect(resumed.body).toMatchObject({ status: 'active', enabled: true, paused_at: null });
    const arrived = await waitForRequests(held.path, 5);
    expect(arrived.map((r) => JSON.parse(r.body).data.n).sort()).toEqual([0, 1, 2, 3, 4]);
    const done = await eventually(async () => {
      const list = await deliveriesOf(source, sub.id);
      return list.every((d) => d.status === 'delivered') ? list : null;
    });
    expect(done.map((d) => d.attempts)).toEqual([1, 1, 1, 1, 1]);

    // on record: the audit log and the system events a tenant can subscribe to
    const audit = await api<{ data: { action: string }[] }>('GET', `/v1/tenants/${source.tenantId}/audit-log?target=${sub.id}`);
    expect(audit.body.data.map((e) => e.action)).toEqual(expect.arrayContaining(['subscription.paused', 'subscription.resumed']));
    const system = await eventually(async () => {
      const res = await api<{ data: { type: string; data: { subscription_id: string; held?: number } }[] }>(
        'GET',
        `/v1/tenants/${source.tenantId}/events?type=switchyard.subscription.paused,switchyard.subscription.resumed`,
      );
      return res.body.data.length === 2 ? res.body.data : null;
    });
    expect(system.map((e) => [e.type, e.data.subscription_id])).toEqual([
      ['switchyard.subscription.paused', sub.id],
      ['switchyard.subscription.resumed', sub.id],
    ]);
    expect(system[1]!.data.held).toBe(5);
  });

  it('keeps an ordered line in order across a pause, including a delivery waiting out a retry', async () => {
    const source = await createSource();
    const { path, url } = receiverPath();
    // the first attempt fails; its retry comes due while the subscription is paused
    await behave(path, { responses: [{ status: 500 }], default: { status: 200 } });
    const sub = await subscribe(source, url, { ordering: 'partition', retry_schedule: [0, 2, 2] });
    const first = Array.from({ length: 3 }, (_, i) => makeEvent({ partitionkey: `k${i % 2}`, data: { n: i } }));
    await ingest(source, first, 'application/cloudevents-batch+json');
    await waitForRequests(path, 1);
    expect((await setStatus(source, sub.id, { status: 'paused' })).body.status).toBe('paused');
    const later = Array.from({ length: 5 }, (_, i) => makeEvent({ partitionkey: `k${(i + 3) % 2}`, data: { n: i + 3 } }));
    await ingest(source, later, 'application/cloudevents-batch+json');
    // past the retry's due time: the held retry is not attempted
    await pause(3_500);
    const beforeResume = (await received(path)).length;
    const list = await eventually(async () => {
      const rows = await deliveriesOf(source, sub.id);
      return rows.length === 8 ? rows : null;
    });
    // the failed delivery is still waiting with its one attempt; nothing was attempted twice
    expect(list.filter((d) => d.status === 'pending' && d.attempts === 1)).toHaveLength(1);
    expect(Math.max(...list.map((d) => d.attempts))).toBe(1);
    expect(list.reduce((sum, d) => sum + d.attempts, 0)).toBe(beforeResume);

    await setStatus(source, sub.id, { status: 'active' });
    // one failed attempt plus one success per event
    const all = await waitForRequests(path, 9, 20_000);
    const delivered = all.slice(1).map((r) => JSON.parse(r.body) as { partitionkey: string; data: { n: number } });
    for (const key of ['k0', 'k1']) {
      const order = delivered.filter((e) => e.partitionkey === key).map((e) => e.data.n);
      expect(order, key).toEqual([...order].sort((a, b) => a - b));
    }
    expect(delivered.map((e) => e.data.n).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    const final = await eventually(async () => {
      const rows = await deliveriesOf(source, sub.id);
      return rows.every((d) => d.status === 'delivered') ? rows : null;
    });
    expect(final).toHaveLength(8);
  }, 40_000);

  it('treats enabled as an alias: false is disabled, and re-enabling does not end a pause', async () => {
    const source = await createSource();
    const { url } = receiverPath();
    const created = await subscribe(source, url, { status: 'paused' });
    expect(created).toMatchObject({ status: 'paused', enabled: true });

    expect((await setStatus(source, created.id, { enabled: true })).body).toMatchObject({ status: 'paused', enabled: true });
    const disabled = await setStatus(source, created.id, { enabled: false });
    expect(disabled.body).toMatchObject({ status: 'disabled', enabled: false, paused_at: null });
    expect((await setStatus(source, created.id, { status: 'paused' })).body).toMatchObject({ status: 'paused', enabled: true });
    expect((await setStatus(source, created.id, { status: 'disabled' })).body).toMatchObject({ status: 'disabled', enabled: false });
    expect((await setStatus(source, created.id, { enabled: true })).body).toMatchObject({ status: 'active', enabled: true, consecutive_failures: 0 });
    expect((await setStatus(source, created.id, { status: 'active', enabled: true })).body.status).toBe('active');

    const list = await api<{ data: Subscription[] }>('GET', `/v1/tenants/${source.tenantId}/subscriptions`);
    expect(list.body.data.find((s) => s.id === created.id)).toMatchObject({ status: 'active' });
    const disabledOnCreate = await subscribe(source, url, { enabled: false });
    expect(disabledOnCreate.status).toBe('disabled');
  });

  it('refuses a status that contradicts enabled, or is unknown, with 422', async () => {
    const source = await createSource();
    const { url } = receiverPath();
    const sub = await subscribe(source, url);
    const conflict = await setStatus(source, sub.id, { status: 'paused', enabled: false });
    expect(conflict).toMatchObject({ status: 422, body: { code: 'status_conflict', errors: [{ pointer: '/status' }] } });
    expect((await setStatus(source, sub.id, { status: 'sleeping' })).body).toMatchObject({ code: 'validation_failed' });
    const onCreate = await api('POST', `/v1/tenants/${source.tenantId}/subscriptions`, {
      types: ['orders.*'],
      action: { type: 'webhook', config: { url } },
      status: 'disabled',
      enabled: true,
    });
    expect(onCreate).toMatchObject({ status: 422, body: { code: 'status_conflict' } });
    expect((await api<Subscription>('GET', `/v1/tenants/${source.tenantId}/subscriptions/${sub.id}`)).body.status).toBe('active');
  });

  it('needs subscriptions:write to pause, and another tenant cannot pause it', async () => {
    const source = await createSource();
    const other = await createSource();
    const { url } = receiverPath();
    const sub = await subscribe(source, url);
    const reader = (await api<{ token: string }>('POST', `/v1/tenants/${source.tenantId}/tokens`, { scopes: ['subscriptions:read'] })).body.token;
    const stranger = (await api<{ token: string }>('POST', `/v1/tenants/${other.tenantId}/tokens`, {})).body.token;
    const path = `/v1/tenants/${source.tenantId}/subscriptions/${sub.id}`;
    expect(await api('PATCH', path, { status: 'paused' }, reader)).toMatchObject({ status: 403, body: { code: 'insufficient_scope' } });
    expect(await api('PATCH', path, { status: 'paused' }, stranger)).toMatchObject({ status: 404 });
    expect(await api('PATCH', `/v1/tenants/${other.tenantId}/subscriptions/${sub.id}`, { status: 'paused' }, stranger)).toMatchObject({
      status: 404,
      body: { code: 'subscription_not_found' },
    });
    expect((await api<Subscription>('GET', path, undefined, reader)).body.status).toBe('active');
  });

  it('acknowledges a held message without a record and without releasing its ordered line', () => {
    const message = { tenant_id: 'tn_x', delivery_id: 'dlv_x', subscription_id: 'sub_x', partition_key: 'customer-7' };
    expect(settle({ message, state: { kind: 'held' }, now: Date.now(), scale: 1 })).toEqual({
      kind: 'ack',
      record: null,
      gone: null,
      events: [],
      release: null,
      deadLetter: false,
    });
  });
});
