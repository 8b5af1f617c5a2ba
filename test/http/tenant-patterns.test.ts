import { describe, expect, it } from 'vitest';
import { api, createSource, createTenant, ingest, makeEvent } from '../fixtures/api';

type Problem = { code: string; detail: string; errors?: { pointer: string; detail: string }[] };

const webhook = { type: 'webhook', config: { url: 'https://example.com/hooks' } };

describe('tenant patterns at registration', () => {
  it('answers 422 naming the item when a subscription or plugin type pattern is over the size limits', async () => {
    const tenant = await createTenant();
    const stars = await api<Problem>('POST', `/v1/tenants/${tenant}/subscriptions`, { types: ['orders.*', '**.a.**.b.**.c.**.d.**.z'], action: webhook });
    expect(stars).toMatchObject({ status: 422, body: { errors: [{ pointer: '/types/1', detail: 'an event-type pattern has at most 4 ** segments' }] } });
    const long = await api<Problem>('POST', `/v1/tenants/${tenant}/plugins`, {
      type: 'redact',
      name: 'r',
      config: { pointers: ['/data/x'] },
      event_types: [Array(33).fill('a').join('.')],
    });
    expect(long).toMatchObject({ status: 422, body: { errors: [{ pointer: '/event_types/0', detail: 'an event-type pattern has at most 32 segments' }] } });
    const replay = await api<Problem>('POST', `/v1/tenants/${tenant}/replays`, { types: ['a'.repeat(257)] });
    expect(replay).toMatchObject({ status: 422, body: { errors: [{ pointer: '/types/0' }] } });
    expect((await api('POST', `/v1/tenants/${tenant}/subscriptions`, { types: ['orders.**.eu.**'], action: webhook })).status).toBe(201);
  });

  it('answers 422 with the JSON pointer of a schema pattern that RE2 cannot run', async () => {
    const tenant = await createTenant();
    const schema = { type: 'object', properties: { sku: { type: 'string', pattern: '^(\\w)\\1$' } } };
    const eventType = await api<Problem>('PUT', `/v1/tenants/${tenant}/event-types/orders.created`, { schema });
    expect(eventType).toMatchObject({
      status: 422,
      body: { code: 'invalid_schema', errors: [{ pointer: '/schema/properties/sku/pattern', detail: expect.stringContaining('backreferences') }] },
    });
    const plugin = await api<Problem>('POST', `/v1/tenants/${tenant}/plugins`, {
      type: 'json-schema',
      name: 'v',
      config: { schema: { patternProperties: { '^a(?=b)': {} } } },
    });
    expect(plugin.status).toBe(422);
    expect(plugin.body.errors?.[0]).toMatchObject({ pointer: '/config/schema/patternProperties/^a(?=b)', detail: expect.stringContaining('lookahead') });
  });

  it('refuses an event against ^(a+)+$ at once instead of backtracking for seconds', async () => {
    const tenant = await createTenant();
    const source = await createSource(tenant);
    const schema = { type: 'object', properties: { code: { type: 'string', pattern: '^(a+)+$' } } };
    expect((await api('PUT', `/v1/tenants/${tenant}/event-types/orders.created`, { schema })).status).toBe(201);
    const refused = await ingest(source, makeEvent({ type: 'orders.created', data: { code: `${'a'.repeat(40)}!` } }));
    expect(refused.status).toBe(422);
    expect(JSON.stringify(await refused.json())).toContain('/data/code');
    const accepted = await ingest(source, makeEvent({ type: 'orders.created', data: { code: 'aaaa' } }));
    expect(accepted.status).toBe(202);
  });
});
