import { describe, expect, it } from 'vitest';
import { api, createSource, eventually, ingest, makeEvent, type TestSource } from '../fixtures/api';
import { behave, receiverPath, waitForRequests } from '../fixtures/receiver';

type Delivery = { id: string; status: string; attempt_log: { outcome: string; status_code: number | null; response_body: string | null }[] };

async function subscribe(source: TestSource, url: string): Promise<void> {
  const res = await api('POST', `/v1/tenants/${source.tenantId}/subscriptions`, {
    types: ['orders.*'],
    retry_schedule: [0],
    action: { type: 'webhook', config: { url } },
  });
  if (res.status !== 201) throw new Error(`subscribe: ${res.status} ${JSON.stringify(res.body)}`);
}

async function send(source: TestSource): Promise<string> {
  const res = await ingest(source, makeEvent());
  expect(res.status).toBe(202);
  return (await res.json<{ id: string }>()).id;
}

async function settled(tenantId: string, eventId: string, status: string): Promise<Delivery> {
  const found = await eventually(
    async () => (await api<{ data: Delivery[] }>('GET', `/v1/tenants/${tenantId}/deliveries?event_id=${eventId}`)).body.data.find((d) => d.status === status),
    20_000,
    100,
  );
  return (await api<Delivery>('GET', `/v1/tenants/${tenantId}/deliveries/${found.id}`)).body;
}

describe('a receiver answering what Postgres cannot store', () => {
  it('records a response body holding NUL (as U+FFFD), and another tenant delivered alongside is recorded too', async () => {
    const hostile = await createSource();
    const bystander = await createSource();
    const bad = receiverPath();
    const good = receiverPath();
    await behave(bad.path, { default: { status: 500, body: 'bad\u0000body' } });
    await behave(good.path, { default: { status: 200, body: 'ok' } });
    await subscribe(hostile, bad.url);
    await subscribe(bystander, good.url);

    const [hostileEvent, bystanderEvent] = await Promise.all([send(hostile), send(bystander)]);
    await Promise.all([waitForRequests(bad.path, 1), waitForRequests(good.path, 1)]);

    const delivered = await settled(bystander.tenantId, bystanderEvent, 'delivered');
    expect(delivered.attempt_log).toMatchObject([{ outcome: 'delivered', status_code: 200 }]);
    const failed = await settled(hostile.tenantId, hostileEvent, 'failed');
    expect(failed.attempt_log[0]).toMatchObject({ status_code: 500, response_body: 'bad\uFFFDbody' });
  });
});
