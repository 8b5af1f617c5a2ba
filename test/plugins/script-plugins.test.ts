import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { createApp } from '../../src/http/app';
import { adminToken, api, call, createSource, createTenant, eventually, ingest, makeEvent, signedHeaders, testEnv, type TestSource } from '../fixtures/api';
import { received, receiverPath, waitForRequests } from '../fixtures/receiver';

type Plugin = { id: string; type: string; kind: string };
type Problem = { code: string; detail: string; errors?: { pointer: string; detail: string; line?: number; column?: number }[] };
type Delivery = { id: string; status: string; attempt_log: { outcome: string; error: string | null }[] };

const validator = `
export function validate(event) {
  const errors = [];
  if (typeof event.data?.amount !== 'number') errors.push({ pointer: '/data/amount', detail: 'amount must be a number' });
  else if (event.data.amount > 1000) errors.push({ pointer: '/data/amount', detail: 'orders above 1000 need approval' });
  if (!event.subject) errors.push('every order needs a subject');
  return { errors };
}`;

async function register(tenantId: string, type: string, config: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return api<Plugin & Problem>('POST', `/v1/tenants/${tenantId}/plugins`, { type, name: `s-${crypto.randomUUID().slice(0, 8)}`, config, ...extra });
}

async function registered(tenantId: string, type: string, source: string, extra: Record<string, unknown> = {}): Promise<Plugin> {
  const res = await register(tenantId, type, { source, ...((extra.config as object) ?? {}) }, extra.event_types ? { event_types: extra.event_types } : {});
  if (res.status !== 201) throw new Error(`register: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

async function storedData(source: TestSource, id: string): Promise<unknown> {
  return eventually(async () => {
    const got = await api<{ data: unknown }>('GET', `/v1/tenants/${source.tenantId}/events/${id}`);
    return got.status === 200 ? got.body.data : null;
  });
}

describe('script plugins: registration', () => {
  it('lists the three script types in the catalog, each with its kind and config schema', async () => {
    const res = await api<{ data: { id: string; kind: string; config_schema: { properties: Record<string, unknown> } }[] }>('GET', '/v1/plugins');
    const byId = new Map(res.body.data.map((t) => [t.id, t]));
    expect(byId.get('script-validator')).toMatchObject({ kind: 'validator', config_schema: { properties: { source: expect.anything() } } });
    expect(byId.get('script-transformer')).toMatchObject({ kind: 'transformer' });
    expect(byId.get('script-action')).toMatchObject({ kind: 'action', config_schema: { properties: { allowed_hosts: expect.anything() } } });
  });

  it('refuses a script that does not parse with 422 and the position of the error', async () => {
    const tenant = await createTenant();
    const res = await register(tenant, 'script-validator', { source: 'export function validate(event) {\n  return { ok: true \n}}}' });
    expect(res).toMatchObject({ status: 422, body: { code: 'invalid_plugin_config' } });
    // the third } of line 3, counting columns from 1 as editors do
    expect(res.body.errors![0]).toMatchObject({ pointer: '/config/source', line: 3, column: 3, detail: expect.stringContaining('SyntaxError') });
  });

  it('refuses with 422 a script that nests too deeply, and one with a stray brace with its position, never a 500', async () => {
    const tenant = await createTenant();
    const deep = await register(tenant, 'script-validator', {
      source: `export const x = ${'['.repeat(30_000)}${']'.repeat(30_000)};\nexport function validate() { return { ok: true } }`,
    });
    expect(deep).toMatchObject({
      status: 422,
      body: { code: 'invalid_plugin_config', errors: [{ pointer: '/config/source', detail: expect.stringContaining('does not parse') }] },
    });
    const brace = await register(tenant, 'script-validator', {
      source: 'const o = { class: 1 };\nexport function validate(x) {\n  x?.class;\n  return {} / 1 }}',
    });
    expect(brace).toMatchObject({
      status: 422,
      body: { errors: [{ pointer: '/config/source', line: 4, column: 18, detail: expect.stringContaining('SyntaxError') }] },
    });
  });

  it('refuses a module without the function its kind needs, and one that throws while loading', async () => {
    const tenant = await createTenant();
    const missing = await register(tenant, 'script-transformer', { source: 'export function validate() { return { ok: true } }' });
    expect(missing).toMatchObject({
      status: 422,
      body: { errors: [{ pointer: '/config/source', detail: expect.stringContaining('export a function named transform') }] },
    });
    const notFunction = await register(tenant, 'script-validator', { source: 'export const validate = 42;' });
    expect(notFunction.body.errors![0]!.detail).toContain('it exports a number');
    const throws = await register(tenant, 'script-validator', { source: 'const table = {};\nthrow new Error("no config");\nexport function validate() {}' });
    expect(throws.status).toBe(422);
    expect(throws.body.errors![0]).toMatchObject({ line: 2, detail: expect.stringContaining('no config') });
    const loops = await register(tenant, 'script-validator', { source: 'while (true) {}\nexport function validate() {}' });
    expect(loops.body.errors![0]).toMatchObject({ line: 1, detail: expect.stringContaining('CPU budget') });
  });

  it('refuses oversized sources, reserved identifiers and imports, and checks a changed source too', async () => {
    const tenant = await createTenant();
    const big = await register(tenant, 'script-validator', { source: `export function validate() { return { ok: true } } // ${'x'.repeat(70_000)}` });
    expect(big).toMatchObject({ status: 422, body: { errors: [{ pointer: '/config/source', detail: expect.stringContaining('64 KiB') }] } });
    const reserved = await register(tenant, 'script-validator', { source: 'const __sy$tick = () => true;\nexport function validate() {}' });
    expect(reserved.body.errors![0]).toMatchObject({ line: 1, column: 7, detail: expect.stringContaining('reserved') });
    const imports = await register(tenant, 'script-validator', { source: "import x from './other.js';\nexport function validate() {}" });
    expect(imports.body.errors![0]!.detail).toContain('No such module');

    const plugin = await registered(tenant, 'script-validator', 'export function validate() { return { ok: true } }');
    const patch = await fetchPatch(tenant, plugin.id, { config: { source: 'export function nope() {}' } });
    expect(patch.status).toBe(422);
  });
});

describe('script plugins at ingest', () => {
  it("rejects events with the script's own messages and accepts good ones", async () => {
    const source = await createSource();
    await registered(source.tenantId, 'script-validator', validator, { event_types: ['orders.*'] });
    const bad = await ingest(source, makeEvent({ data: { amount: 5000 } }));
    expect(bad.status).toBe(422);
    expect(await bad.json()).toMatchObject({
      code: 'validator_rejected',
      errors: [
        { pointer: '/data/amount', detail: 'orders above 1000 need approval' },
        { pointer: '', detail: 'every order needs a subject' },
      ],
    });
    expect((await ingest(source, makeEvent({ subject: 'order-1', data: { amount: 10 } }))).status).toBe(202);
    expect((await ingest(source, makeEvent({ type: 'users.created' }))).status).toBe(202);
  });

  it('rewrites events before storage and drops those the transformer returns null for', async () => {
    const source = await createSource();
    const transformer = `
export function transform(event) {
  if (event.data.test) return null;
  const { card, ...rest } = event.data;
  return { ...event, subject: 'order-' + event.data.amount, data: { ...rest, last4: String(card).slice(-4), cents: event.data.amount * 100 } };
}`;
    await registered(source.tenantId, 'script-transformer', transformer);
    const kept = await ingest(source, makeEvent({ data: { amount: 12, card: '4242424242424242' } }));
    expect(kept.status).toBe(202);
    const { id } = await kept.json<{ id: string }>();
    expect(await storedData(source, id)).toEqual({ amount: 12, last4: '4242', cents: 1200 });
    const got = await api<{ subject: string }>('GET', `/v1/tenants/${source.tenantId}/events/${id}`);
    expect(got.body.subject).toBe('order-12');

    const dropped = await ingest(source, makeEvent({ data: { amount: 1, test: true } }));
    expect(dropped.status).toBe(200);
    expect(await dropped.json()).toMatchObject({ dropped: true });
  });

  it('fails closed on scripts that throw, return garbage or change the event id', async () => {
    const cases: [string, string, string][] = [
      ['script-validator', 'export function validate() { throw new RangeError("limits table missing") }', 'limits table missing'],
      ['script-validator', 'export function validate() { return "yes" }', 'validate must return'],
      ['script-transformer', 'export function transform(e) { return { ...e, id: "other" } }', 'changed id'],
      ['script-transformer', 'export function transform() { return [1, 2] }', 'transform must return'],
    ];
    for (const [type, script, detail] of cases) {
      const source = await createSource();
      await registered(source.tenantId, type, script);
      const res = await ingest(source, makeEvent());
      expect(res.status, script).toBe(422);
      expect(await res.json(), script).toMatchObject({
        code: type === 'script-validator' ? 'validator_failed' : 'transformer_failed',
        detail: expect.stringContaining(detail),
      });
    }
  });

  it('cuts off a looping validator while other tenants keep being served', async () => {
    const looping = await createSource();
    await registered(looping.tenantId, 'script-validator', 'export function validate(event) { if (event.data.loop) for (;;) {} return { ok: true } }');
    const other = await createSource();
    const [stuck, fine] = await Promise.all([ingest(looping, makeEvent({ data: { loop: true } })), ingest(other, makeEvent())]);
    expect(stuck.status).toBe(422);
    expect(await stuck.json()).toMatchObject({ code: 'validator_failed', detail: expect.stringContaining('CPU budget') });
    expect(fine.status).toBe(202);
    // the same isolate answers the next event normally
    expect((await ingest(looping, makeEvent({ data: { loop: false } }))).status).toBe(202);
  });
});

describe('script plugins: dry run', () => {
  it('runs a validator or transformer against a sample event without storing anything', async () => {
    const tenant = await createTenant();
    const check = await registered(tenant, 'script-validator', validator, { event_types: ['orders.*'] });
    const res = await api<{ result: Record<string, unknown>; duration_ms: number }>('POST', `/v1/tenants/${tenant}/plugins/${check.id}/test`, {
      event: makeEvent({ data: { amount: 'many' } }),
    });
    expect(res.status).toBe(200);
    expect(res.body.result).toMatchObject({ kind: 'reject', code: 'validator_rejected', errors: [{ pointer: '/data/amount' }, { pointer: '' }] });
    expect(res.body.duration_ms).toBeGreaterThanOrEqual(0);
    const ok = await api<{ result: unknown }>('POST', `/v1/tenants/${tenant}/plugins/${check.id}/test`, {
      event: makeEvent({ subject: 's', data: { amount: 1 } }),
    });
    expect(ok.body.result).toEqual({ kind: 'pass' });

    const upper = await registered(tenant, 'script-transformer', 'export function transform(e) { return { ...e, type: e.type.toUpperCase() } }');
    const transformed = await api<{ result: { kind: string; event: { type: string } } }>('POST', `/v1/tenants/${tenant}/plugins/${upper.id}/test`, {
      event: makeEvent(),
    });
    expect(transformed.body.result).toMatchObject({ kind: 'pass', event: { type: 'ORDERS.CREATED' } });

    const events = await api<{ data: unknown[] }>('GET', `/v1/tenants/${tenant}/events`);
    expect(events.body.data).toEqual([]);
    const invalid = await api('POST', `/v1/tenants/${tenant}/plugins/${upper.id}/test`, { event: { type: 'x' } });
    expect(invalid).toMatchObject({ status: 422, body: { code: 'invalid_event' } });
    const action = await registered(tenant, 'script-action', 'export function handle() {}');
    const notTestable = await api('POST', `/v1/tenants/${tenant}/plugins/${action.id}/test`, { event: makeEvent() });
    expect(notTestable).toMatchObject({ status: 422, body: { code: 'plugin_not_testable' } });
  });
});

describe('scripts at delivery', () => {
  const handler = `
export async function handle(event, ctx) {
  try {
    const res = await ctx.fetch(event.data.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: event.id, attempt: ctx.attempt, delivery: ctx.deliveryId }) });
    if (!res.ok) return { kind: 'retry', error: 'answered ' + res.status, status: res.status };
  } catch (error) {
    return { kind: 'rejected', error: error.message };
  }
}`;

  async function deliveryOf(source: TestSource, eventId: string, status: string): Promise<Delivery> {
    const found = await eventually(
      async () =>
        (await api<{ data: Delivery[] }>('GET', `/v1/tenants/${source.tenantId}/deliveries?event_id=${eventId}`)).body.data.find((d) => d.status === status),
      15_000,
      100,
    );
    return (await api<Delivery>('GET', `/v1/tenants/${source.tenantId}/deliveries/${found.id}`)).body;
  }

  it('delivers through the allow-listed egress, and is refused anywhere else', async () => {
    const source = await createSource();
    const receiverHost = new URL(testEnv.RECEIVER_URL).host;
    const action = await registered(source.tenantId, 'script-action', handler, { config: { allowed_hosts: [receiverHost, '10.0.0.8'] } });
    const sub = await api('POST', `/v1/tenants/${source.tenantId}/subscriptions`, {
      types: ['orders.*'],
      action: { plugin_id: action.id },
      retry_schedule: [0],
    });
    expect(sub.status).toBe(201);

    const { path, url } = receiverPath();
    const sent = await ingest(source, makeEvent({ data: { url } }));
    const { id } = await sent.json<{ id: string }>();
    const [request] = await waitForRequests(path, 1);
    const delivered = await deliveryOf(source, id, 'delivered');
    expect(JSON.parse(request!.body)).toEqual({ id: expect.any(String), attempt: 1, delivery: delivered.id });

    const elsewhere = await ingest(source, makeEvent({ data: { url: 'https://example.com/hook' } }));
    const refused = await deliveryOf(source, (await elsewhere.json<{ id: string }>()).id, 'failed');
    expect(refused.attempt_log[0]).toMatchObject({
      outcome: 'rejected',
      error: expect.stringMatching(/EgressRefused: example\.com is not in the script's allowed_hosts/),
    });

    const privateNet = await ingest(source, makeEvent({ data: { url: 'http://10.0.0.8/hook' } }));
    const ssrf = await deliveryOf(source, (await privateNet.json<{ id: string }>()).id, 'failed');
    expect(ssrf.attempt_log[0]!.error).toMatch(/EgressRefused: .*private/);
    expect(await received(path)).toHaveLength(1);
  });

  it('transforms at delivery with a script transformer, and skips what it drops', async () => {
    const source = await createSource();
    // event_types that match nothing: the instance is then used only where a subscription names it
    const shrink = await registered(
      source.tenantId,
      'script-transformer',
      'export function transform(e) { return e.data.internal ? null : { ...e, data: { total: e.data.amount } } }',
      { event_types: ['delivery.only'] },
    );
    const { path, url } = receiverPath();
    const sub = await api('POST', `/v1/tenants/${source.tenantId}/subscriptions`, {
      types: ['orders.*'],
      action: { type: 'webhook', config: { url } },
      transformer: { plugin_id: shrink.id },
    });
    expect(sub.status).toBe(201);
    const hidden = await ingest(source, makeEvent({ data: { amount: 1, internal: true } }));
    await ingest(source, makeEvent({ data: { amount: 9, note: 'drop me' } }));
    const [request] = await waitForRequests(path, 1);
    expect(JSON.parse(request!.body)).toMatchObject({ data: { total: 9 } });
    expect((await deliveryOf(source, (await hidden.json<{ id: string }>()).id, 'skipped')).attempt_log[0]!.error).toContain('dropped by transformer');
    expect(await received(path)).toHaveLength(1);
  });

  it('retries an action script that throws or returns garbage', async () => {
    const source = await createSource();
    const action = await registered(source.tenantId, 'script-action', 'export function handle() { return 42 }');
    await api('POST', `/v1/tenants/${source.tenantId}/subscriptions`, { types: ['orders.*'], action: { plugin_id: action.id }, retry_schedule: [0, 1] });
    const sent = await ingest(source, makeEvent());
    const failed = await deliveryOf(source, (await sent.json<{ id: string }>()).id, 'failed');
    expect(failed.attempt_log.map((a) => a.outcome)).toEqual(['retry', 'retry']);
    expect(failed.attempt_log[0]!.error).toContain('handle must return');
  });
});

describe('without the Worker Loader binding', () => {
  it('answers 501 sandbox_unavailable for scripts and keeps everything else working', async () => {
    const app = createApp();
    const { LOADER: _absent, ...withoutLoader } = env as Env & Record<string, unknown>;
    const ctx = { waitUntil: () => {}, passThroughOnException: () => {}, props: {}, exports: {} } as unknown as ExecutionContext;
    const request = async (method: string, path: string, body?: unknown) =>
      app.request(
        path,
        {
          method,
          headers: { authorization: `Bearer ${await adminToken()}`, 'content-type': 'application/json' },
          body: body === undefined ? undefined : JSON.stringify(body),
        },
        withoutLoader,
        ctx,
      );

    const tenant = await createTenant();
    const script = await request('POST', `/v1/tenants/${tenant}/plugins`, {
      type: 'script-validator',
      name: 'v',
      config: { source: 'export function validate() { return { ok: true } }' },
    });
    expect(script.status).toBe(501);
    expect(await script.json()).toMatchObject({ code: 'sandbox_unavailable', detail: expect.stringContaining('LOADER') });
    const redact = await request('POST', `/v1/tenants/${tenant}/plugins`, { type: 'redact', name: 'r', config: { pointers: ['/data/card'] } });
    expect(redact.status).toBe(201);
    expect((await request('GET', '/v1/plugins')).status).toBe(200);

    // ingest keeps working; a script registered where the binding exists fails closed here
    const source = await createSource(tenant);
    const send = async (event: Record<string, unknown>) => {
      const text = JSON.stringify(event);
      return app.request(
        `/v1/ingest/${source.sourceId}`,
        { method: 'POST', headers: { 'content-type': 'application/cloudevents+json', ...(await signedHeaders(source.secret, text)) }, body: text },
        withoutLoader,
        ctx,
      );
    };
    expect((await send(makeEvent())).status).toBe(202);
    await registered(tenant, 'script-validator', 'export function validate() { return { ok: true } }', { event_types: ['users.*'] });
    const failed = await send(makeEvent({ type: 'users.created' }));
    expect(failed.status).toBe(422);
    expect(await failed.json()).toMatchObject({ code: 'validator_failed', detail: expect.stringContaining('LOADER') });
  });
});

async function fetchPatch(tenant: string, id: string, body: unknown): Promise<Response> {
  return call(`/v1/tenants/${tenant}/plugins/${id}`, {
    method: 'PATCH',
    headers: { authorization: `Bearer ${await adminToken()}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}
