import { describe, expect, it } from 'vitest';
import { api, createSource, eventually, ingest, makeEvent, testEnv, withTestDb, type TestSource, subscribeWebhook } from '../fixtures/api';
import { behave, received, receiverPath, waitForRequests } from '../fixtures/receiver';

type Sub = { id: string; secret: string; public_key: string | null; enabled: boolean; disabled_reason: string | null };
type Delivery = {
  id: string;
  subscription_id: string;
  status: string;
  attempts: number;
  attempt_log: { attempt: number; outcome: string; status_code: number | null }[];
};

const subscribe = subscribeWebhook<Sub>;

async function deliveriesOf(tenantId: string, eventId: string): Promise<Delivery[]> {
  return (await api<{ data: Delivery[] }>('GET', `/v1/tenants/${tenantId}/deliveries?event_id=${eventId}`)).body.data;
}

async function settled(tenantId: string, eventId: string, status: string, timeoutMs = 15_000): Promise<Delivery> {
  const found = await eventually(async () => (await deliveriesOf(tenantId, eventId)).find((d) => d.status === status), timeoutMs, 100);
  return (await api<Delivery>('GET', `/v1/tenants/${tenantId}/deliveries/${found.id}`)).body;
}

async function send(source: TestSource, overrides: Record<string, unknown> = {}): Promise<string> {
  const res = await ingest(source, makeEvent(overrides));
  expect(res.status).toBe(202);
  return (await res.json<{ id: string }>()).id;
}

describe('webhook deliveries', () => {
  it('delivers a signed CloudEvent that the official standardwebhooks library verifies, and records it', async () => {
    const source = await createSource();
    const { path, url } = receiverPath();
    const sub = await subscribe(source, url);
    expect(sub.secret).toMatch(/^whsec_/);
    await behave(path, { secret: sub.secret });
    const eventId = await send(source, { data: { amount: 7 } });

    const [request] = await waitForRequests(path, 1);
    expect(request!.verified).toBe(true);
    expect(request!.headers['content-type']).toContain('application/cloudevents+json');
    expect(JSON.parse(request!.body)).toMatchObject({ type: 'orders.created', data: { amount: 7 } });

    const delivery = await settled(source.tenantId, eventId, 'delivered');
    expect(request!.headers['webhook-id']).toBe(delivery.id);
    expect(delivery).toMatchObject({ attempts: 1, attempt_log: [{ attempt: 1, outcome: 'delivered', status_code: 200 }] });
  });

  it('signs with Ed25519 (v1a) when the subscription asks for it', async () => {
    const source = await createSource();
    const { path, url } = receiverPath();
    const sub = await subscribe(source, url, { signing: 'v1a' });
    expect(sub.public_key).toMatch(/^whpk_/);
    await behave(path, { secret: sub.public_key! });
    await send(source);
    const [request] = await waitForRequests(path, 1);
    expect(request!.headers['webhook-signature']).toMatch(/^v1a,/);
    expect(request!.verified).toBe(true);
  });

  it('retries a 500 on the schedule with the same webhook-id, then succeeds', async () => {
    const source = await createSource();
    const { path, url } = receiverPath();
    await behave(path, { responses: [{ status: 500 }, { status: 503 }] });
    await subscribe(source, url, { retry_schedule: [0, 1, 1, 1] });
    const eventId = await send(source);
    const requests = await waitForRequests(path, 3);
    expect(new Set(requests.map((r) => r.headers['webhook-id'])).size).toBe(1);
    expect(requests[1]!.at - requests[0]!.at).toBeGreaterThanOrEqual(900);
    const delivery = await settled(source.tenantId, eventId, 'delivered');
    expect(delivery.attempt_log.map((a) => [a.outcome, a.status_code])).toEqual([
      ['retry', 500],
      ['retry', 503],
      ['delivered', 200],
    ]);
  });

  it('honours Retry-After on a 429', async () => {
    const source = await createSource();
    const { path, url } = receiverPath();
    await behave(path, { responses: [{ status: 429, headers: { 'retry-after': '2' } }] });
    await subscribe(source, url, { retry_schedule: [0, 0, 0] });
    await send(source);
    const requests = await waitForRequests(path, 2);
    expect(requests[1]!.at - requests[0]!.at).toBeGreaterThanOrEqual(1900);
  });

  it('marks a delivery failed after the last attempt, dead-letters it and emits switchyard.delivery.exhausted', async () => {
    const source = await createSource();
    const { path, url } = receiverPath();
    const watcher = receiverPath();
    await behave(path, { default: { status: 500, body: 'boom' } });
    await subscribe(source, url, { retry_schedule: [0, 1] });
    // exhausted only: each failed attempt emits switchyard.delivery.failed too (test/delivery/sync-mode.test.ts)
    await subscribe(source, watcher.url, { types: ['switchyard.delivery.exhausted'] });
    const eventId = await send(source);
    const delivery = await settled(source.tenantId, eventId, 'failed');
    expect(delivery.attempts).toBe(2);
    expect(delivery.attempt_log.map((a) => a.status_code)).toEqual([500, 500]);
    const [notice] = await waitForRequests(watcher.path, 1);
    expect(JSON.parse(notice!.body)).toMatchObject({
      type: 'switchyard.delivery.exhausted',
      subject: delivery.id,
      data: { event_id: eventId, attempts: 2, last_status: 500 },
    });
  });

  it('disables the subscription when the endpoint answers 410 Gone', async () => {
    const source = await createSource();
    const { path, url } = receiverPath();
    await behave(path, { default: { status: 410 } });
    const sub = await subscribe(source, url);
    // a second subscription to the same events: it receives the later event while the disabled one does not
    const control = receiverPath();
    await subscribe(source, control.url);
    const eventId = await send(source);
    await settled(source.tenantId, eventId, 'failed');
    const after = await api<Sub>('GET', `/v1/tenants/${source.tenantId}/subscriptions/${sub.id}`);
    expect(after.body).toMatchObject({ enabled: false, disabled_reason: expect.stringContaining('410') });
    await send(source);
    await waitForRequests(control.path, 2);
    await new Promise((r) => setTimeout(r, 500));
    expect(await received(path)).toHaveLength(1);
  });

  it('does not follow redirects', async () => {
    const source = await createSource();
    const { path, url } = receiverPath();
    const elsewhere = receiverPath();
    await behave(path, { default: { status: 302, headers: { location: elsewhere.url } } });
    await subscribe(source, url);
    const eventId = await send(source);
    const delivery = await settled(source.tenantId, eventId, 'failed');
    expect(delivery.attempt_log[0]).toMatchObject({ outcome: 'rejected', status_code: 302 });
    expect(await received(elsewhere.path)).toHaveLength(0);
  });

  it('retries when the endpoint does not answer within the timeout', async () => {
    const source = await createSource();
    const { path, url } = receiverPath();
    await behave(path, { responses: [{ status: 200, delayMs: 3000 }] });
    const res = await api('POST', `/v1/tenants/${source.tenantId}/subscriptions`, {
      types: ['**'],
      action: { type: 'webhook', config: { url, timeout_ms: 1000 } },
      retry_schedule: [0, 1],
    });
    expect(res.status).toBe(201);
    const eventId = await send(source);
    const delivery = await settled(source.tenantId, eventId, 'delivered');
    expect(delivery.attempt_log[0]).toMatchObject({ outcome: 'retry', status_code: null });
  });

  it('refuses private, loopback, link-local and metadata destinations', async () => {
    const source = await createSource();
    for (const url of [
      'http://169.254.169.254/latest/meta-data',
      'http://127.0.0.1:1/',
      'http://[::ffff:127.0.0.1]/',
      'http://10.0.0.8/',
      'http://localhost/',
      'ftp://example.com/',
      'https://user:pw@example.com/',
    ]) {
      const res = await api('POST', `/v1/tenants/${source.tenantId}/subscriptions`, { types: ['**'], action: { type: 'webhook', config: { url } } });
      expect(res.status, url).toBe(422);
    }
  });

  it('tells how to allow a local destination when a loopback webhook URL is refused', async () => {
    const source = await createSource();
    const res = await api<{ code: string; detail: string; errors: { pointer: string; detail: string }[] }>(
      'POST',
      `/v1/tenants/${source.tenantId}/subscriptions`,
      {
        types: ['**'],
        action: { type: 'webhook', config: { url: 'http://127.0.0.1:9/hook' } },
      },
    );
    expect(res.status).toBe(422);
    expect(res.body.code).toBe('destination_refused');
    expect(res.body.detail).toContain('127.0.0.1 is loopback');
    expect(res.body.detail).toContain('EGRESS_ALLOWLIST=127.0.0.1:9 npm run dev');
    expect(res.body.errors[0]).toMatchObject({ pointer: '/action/config/url' });
  });

  it('checks an inline script action like a registered one: a module that does not parse is refused', async () => {
    const source = await createSource();
    const res = await api<{ code: string; errors: { pointer: string }[] }>('POST', `/v1/tenants/${source.tenantId}/subscriptions`, {
      types: ['**'],
      action: { type: 'script-action', config: { source: 'export function handle(event) { return (' } },
    });
    expect(res.status).toBe(422);
    expect(res.body.code).toBe('invalid_plugin_config');
    expect(res.body.errors[0]!.pointer).toMatch(/^\/action\/config/);
  });

  it('fans out only to subscriptions whose types and where filter match', async () => {
    const source = await createSource();
    const big = receiverPath();
    const all = receiverPath();
    await subscribe(source, big.url, { where: { 'data.amount': { $gte: 100 } } });
    await subscribe(source, all.url, { types: ['**'] });
    await send(source, { data: { amount: 5 } });
    await send(source, { data: { amount: 500 } });
    await send(source, { type: 'users.created', data: { amount: 1000 } });
    await waitForRequests(all.path, 3);
    const bigOnes = await waitForRequests(big.path, 1);
    await new Promise((r) => setTimeout(r, 300));
    expect((await received(big.path)).map((r) => JSON.parse(r.body).data.amount)).toEqual([500]);
    expect(bigOnes).toHaveLength(1);
  });

  it('records one success when the same queue message arrives twice', async () => {
    const source = await createSource();
    const { path, url } = receiverPath();
    const sub = await subscribe(source, url);
    const eventId = await send(source);
    const delivery = await settled(source.tenantId, eventId, 'delivered');
    // a control: another delivery of the tenant, delivered and then reopened as if its message were lost;
    // a message for it, sent with the duplicates, gets an attempt within the same wait
    const control = receiverPath();
    await subscribe(source, control.url, { types: ['users.*'] });
    const controlEvent = await send(source, { type: 'users.created' });
    const reopened = await settled(source.tenantId, controlEvent, 'delivered');
    await withTestDb((db) =>
      db.query(`UPDATE deliveries SET status = 'pending', finished_at = NULL, next_attempt_at = NULL, leased_until = NULL WHERE id = $1`, [reopened.id]),
    );
    await testEnv.DELIVERY_QUEUE.send({
      type: 'delivery.v1',
      tenant_id: source.tenantId,
      delivery_id: delivery.id,
      subscription_id: sub.id,
      partition_key: null,
    });
    await testEnv.DELIVERY_QUEUE.send({
      type: 'delivery.v1',
      tenant_id: source.tenantId,
      delivery_id: delivery.id,
      subscription_id: sub.id,
      partition_key: null,
    });
    await testEnv.DELIVERY_QUEUE.send({
      type: 'delivery.v1',
      tenant_id: source.tenantId,
      delivery_id: reopened.id,
      subscription_id: reopened.subscription_id,
      partition_key: null,
    });
    await waitForRequests(control.path, 2);
    await new Promise((r) => setTimeout(r, 1500));
    const after = (await api<Delivery>('GET', `/v1/tenants/${source.tenantId}/deliveries/${delivery.id}`)).body;
    expect(after.attempt_log).toHaveLength(1);
    expect(await received(path)).toHaveLength(1);
  });

  it('takes concurrent changes of one tenant without a deadlock: every create, update and delete is answered 2xx', async () => {
    const source = await createSource();
    const { url } = receiverPath();
    const existing = await Promise.all(Array.from({ length: 8 }, () => subscribe(source, url)));
    const base = `/v1/tenants/${source.tenantId}/subscriptions`;
    const answers = await Promise.all([
      ...existing.slice(0, 4).map((s) => api('DELETE', `${base}/${s.id}`)),
      ...existing.slice(4).map((s) => api('PATCH', `${base}/${s.id}`, { types: ['orders.paid'], status: 'paused' })),
      ...Array.from({ length: 4 }, () => api('POST', base, { types: ['orders.*'], action: { type: 'webhook', config: { url } } })),
      api('PATCH', `/v1/tenants/${source.tenantId}`, { name: 'renamed while busy' }),
    ]);
    expect(answers.map((a) => a.status).filter((status) => status >= 300)).toEqual([]);

    // deleting the tenant meanwhile takes the same rows in the same order: its changes end 2xx or 404, never 5xx
    const doomed = await createSource();
    const subs = await Promise.all(Array.from({ length: 6 }, () => subscribe(doomed, url)));
    const racing = await Promise.all([
      ...subs.map((s, i) =>
        i % 2
          ? api('DELETE', `/v1/tenants/${doomed.tenantId}/subscriptions/${s.id}`)
          : api('PATCH', `/v1/tenants/${doomed.tenantId}/subscriptions/${s.id}`, { status: 'paused' }),
      ),
      api('DELETE', `/v1/tenants/${doomed.tenantId}`),
    ]);
    expect(racing.map((a) => a.status).filter((status) => status >= 500)).toEqual([]);
  });
});
