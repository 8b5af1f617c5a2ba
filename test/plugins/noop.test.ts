import { describe, expect, it } from 'vitest';
import { api, createSource, eventually, ingest, makeEvent, type TestSource } from '../fixtures/api';

type Delivery = { id: string; status: string; attempts: number; attempt_log: { attempt: number; outcome: string; status_code: number | null }[] };

async function subscribeNoop(source: TestSource, config: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): Promise<void> {
  const res = await api('POST', `/v1/tenants/${source.tenantId}/subscriptions`, { types: ['orders.*'], action: { type: 'noop', config }, ...extra });
  expect(res.status).toBe(201);
}

async function delivered(source: TestSource): Promise<Delivery> {
  const res = await ingest(source, makeEvent());
  expect(res.status).toBe(202);
  const { id: eventId } = await res.json<{ id: string }>();
  const found = await eventually(
    async () =>
      (await api<{ data: Delivery[] }>('GET', `/v1/tenants/${source.tenantId}/deliveries?event_id=${eventId}`)).body.data.find((d) => d.status === 'delivered'),
    15_000,
    100,
  );
  return (await api<Delivery>('GET', `/v1/tenants/${source.tenantId}/deliveries/${found.id}`)).body;
}

// plugins/noop is the proof that an action can be written from src/plugins/types.ts and the kit alone,
// registered by one line in plugins/index.ts
describe('the noop action', () => {
  it('is listed in the catalog as an action with its config schema', async () => {
    const res = await api<{ data: { id: string; kind: string; config_schema: { properties: Record<string, unknown> } }[] }>('GET', '/v1/plugins');
    expect(res.body.data.find((t) => t.id === 'noop')).toMatchObject({ kind: 'action', config_schema: { properties: { fail_attempts: { type: 'integer' } } } });
  });

  it('delivers an event and records one delivered attempt when a subscription uses it', async () => {
    const source = await createSource();
    await subscribeNoop(source);
    const delivery = await delivered(source);
    expect(delivery).toMatchObject({ status: 'delivered', attempts: 1, attempt_log: [{ attempt: 1, outcome: 'delivered', status_code: null }] });
  });

  it('fails its first attempts when asked, and the retry schedule then delivers', async () => {
    const source = await createSource();
    await subscribeNoop(source, { fail_attempts: 1 }, { retry_schedule: [0, 1] });
    const delivery = await delivered(source);
    expect(delivery.attempts).toBe(2);
    expect(delivery.attempt_log.map((a) => a.outcome)).toEqual(['retry', 'delivered']);
  });

  it('refuses a config with unknown fields like any plugin', async () => {
    const source = await createSource();
    const res = await api<{ code: string; errors: { pointer: string }[] }>('POST', `/v1/tenants/${source.tenantId}/subscriptions`, {
      types: ['**'],
      action: { type: 'noop', config: { url: 'https://example.com' } },
    });
    expect(res.status).toBe(422);
    expect(res.body.errors[0]!.pointer).toBe('/action/config/url');
  });
});
