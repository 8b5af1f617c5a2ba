import { describe, expect, it } from 'vitest';
import { readBody } from '../../src/http/body';
import { SCHEMA_LIMITS, TENANT_LIMITS } from '../../src/http/tenant-limits';
import { MAX_FIELD_ERRORS, ProblemError } from '../../src/lib/problem';
import { adminToken, api, call, createSource, createTenant, eventually, ingest, makeEvent, withTestDb } from '../fixtures/api';

type Problem = { status: number; code: string; detail: string; errors?: { pointer: string; detail: string }[] };
type DryRun = { result: { kind: string; code?: string; detail?: string; event?: Record<string, unknown> } };

/** A JSON request with a hand-written body (JSON.stringify cannot write `1e309`). */
async function rawJson(method: string, path: string, body: string): Promise<{ status: number; body: Problem & Record<string, unknown> }> {
  const res = await call(path, { method, headers: { authorization: `Bearer ${await adminToken()}`, 'content-type': 'application/json' }, body });
  return { status: res.status, body: await res.json() };
}

describe('numbers JSON cannot carry', () => {
  it('refuses an event whose data holds 1e309 with 422 invalid_event naming it, instead of storing null', async () => {
    const source = await createSource();
    const body = '{"specversion":"1.0","id":"huge-number","source":"/x","type":"orders.created","data":{"ok":1,"items":[{"n":-1e309}]}}';
    const res = await ingest(source, body);
    expect(res.status).toBe(422);
    const problem = await res.json<Problem>();
    expect(problem).toMatchObject({ code: 'invalid_event', errors: [{ pointer: '/data/items/0/n' }] });
    // the same event with the number as text is fine, and nothing was stored for the refused one
    expect((await ingest(source, makeEvent({ id: 'huge-number-text', data: { n: '1e309' } }))).status).toBe(202);
    await eventually(async () => (await withTestDb((db) => db.query('SELECT 1 FROM events WHERE tenant_id = $1', [source.tenantId]))).rows.length === 1);
    const ceIds = await withTestDb(async (db) =>
      (await db.query<{ ce_id: string }>('SELECT ce_id FROM events WHERE tenant_id = $1', [source.tenantId])).rows.map((r) => r.ce_id),
    );
    expect(ceIds).toEqual(['huge-number-text']);
  });

  it('refuses 1e309 in a management body with 422 invalid_number, instead of saving a where filter that means null', async () => {
    const tenant = await createTenant();
    const res = await rawJson(
      'POST',
      `/v1/tenants/${tenant}/subscriptions`,
      '{"types":["orders.created"],"where":{"data.amount":1e309},"action":{"type":"webhook","config":{"url":"https://example.com/hook"}}}',
    );
    expect(res.status).toBe(422);
    expect(res.body).toMatchObject({ code: 'invalid_number', errors: [{ pointer: '/where/data.amount' }] });
    const list = await api<{ data: unknown[] }>('GET', `/v1/tenants/${tenant}/subscriptions`);
    expect(list.body.data).toHaveLength(0);
  });
});

describe('plugin dry-run judges transformer output as ingest does', () => {
  async function dryRun(source: string): Promise<DryRun['result']> {
    const tenant = await createTenant();
    const created = await api<{ id: string }>('POST', `/v1/tenants/${tenant}/plugins`, { type: 'script-transformer', name: 'bad-output', config: { source } });
    expect(created.status).toBe(201);
    const res = await api<DryRun>('POST', `/v1/tenants/${tenant}/plugins/${created.body.id}/test`, { event: makeEvent() });
    expect(res.status).toBe(200);
    return res.body.result;
  }

  it('rejects with transformer_failed when the transformer renames the event into the reserved switchyard. namespace', async () => {
    const result = await dryRun(`export function transform(e) { e.type = 'switchyard.delivery.exhausted'; return e; }`);
    expect(result).toMatchObject({ kind: 'reject', code: 'transformer_failed' });
    expect(result.detail).toContain('bad-output');
  });

  it('rejects with transformer_failed when the transformer returns data nested 10,000 deep', async () => {
    const result = await dryRun(`export function transform(e) { let d = 1; for (let i = 0; i < 10000; i++) d = [d]; e.data = d; return e; }`);
    expect(result).toMatchObject({ kind: 'reject', code: 'transformer_failed' });
    expect(result.detail).toContain('event_too_deep');
  });

  it('still passes an output ingest would store', async () => {
    const result = await dryRun(`export function transform(e) { return { ...e, subject: 'changed' }; }`);
    expect(result).toMatchObject({ kind: 'pass', event: { subject: 'changed' } });
  });
});

describe('bodies that break off', () => {
  const broken = () =>
    new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('{"specversion":"1.0",'));
      },
      pull(controller) {
        controller.error(new Error('Network connection lost.'));
      },
    });

  it.each([
    ['without a Content-Length', {}],
    ['with a Content-Length it never reaches', { 'content-length': '1000' }],
  ])('refuses with 400 incomplete_body, not an unhandled error, when the body stream fails %s', async (_, headers) => {
    const request = new Request('https://switchyard.test/v1/ingest/x', { method: 'POST', headers, body: broken() });
    const refused = await readBody(request).then(
      () => null,
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(ProblemError);
    expect((refused as ProblemError).problem).toMatchObject({ status: 400, code: 'incomplete_body' });
  });
});

describe('what one tenant may create is bounded', () => {
  const webhook = { type: 'webhook', config: { url: 'https://example.com/hook' } };
  /** Fills the tenant's table up to its limit directly, so the test does not make hundreds of calls. */
  const fill = (sql: string, tenant: string, count: number) => withTestDb((db) => db.query(sql, [tenant, count]));

  it('refuses the 501st subscription with 409 limit_reached, and accepts one again after a delete', async () => {
    const tenant = await createTenant();
    await fill(
      `INSERT INTO subscriptions (id, tenant_id, types, action_type, action_config) SELECT 'sub_FILL' || lpad(g::text, 22, '0') || $1, $1, '{orders.created}', 'webhook', '{"url":"https://example.com/hook"}' FROM generate_series(1, $2) g`,
      tenant,
      TENANT_LIMITS.subscriptions - 1,
    );
    const last = await api<{ id: string }>('POST', `/v1/tenants/${tenant}/subscriptions`, { types: ['orders.created'], action: webhook });
    expect(last.status).toBe(201);
    const over = await api<Problem>('POST', `/v1/tenants/${tenant}/subscriptions`, { types: ['orders.created'], action: webhook });
    expect(over.status).toBe(409);
    expect(over.body).toMatchObject({ code: 'limit_reached' });
    expect(over.body.detail).toContain(String(TENANT_LIMITS.subscriptions));
    expect((await api('DELETE', `/v1/tenants/${tenant}/subscriptions/${last.body.id}`)).status).toBe(204);
    expect((await api('POST', `/v1/tenants/${tenant}/subscriptions`, { types: ['orders.created'], action: webhook })).status).toBe(201);
  });

  it('refuses plugin instances and sources past their limits with 409 limit_reached', async () => {
    const tenant = await createTenant();
    await fill(
      `INSERT INTO plugins (id, tenant_id, type, kind, name) SELECT 'plg_FILL' || g || $1, $1, 'set-attributes', 'transformer', 'fill-' || g FROM generate_series(1, $2) g`,
      tenant,
      TENANT_LIMITS.plugins,
    );
    const plugin = await api<Problem>('POST', `/v1/tenants/${tenant}/plugins`, {
      type: 'script-validator',
      name: 'one-more',
      config: { source: 'export function validate() { return { ok: true }; }' },
    });
    expect(plugin.status).toBe(409);
    expect(plugin.body).toMatchObject({ code: 'limit_reached' });
    await fill(
      `INSERT INTO sources (id, tenant_id, name, verifier_type) SELECT 'src_FILL' || g || $1, $1, 'fill', 'standard-webhooks' FROM generate_series(1, $2) g`,
      tenant,
      TENANT_LIMITS.sources,
    );
    const source = await api<Problem>('POST', `/v1/tenants/${tenant}/sources`, { name: 'one more' });
    expect(source.status).toBe(409);
    expect(source.body).toMatchObject({ code: 'limit_reached' });
  });

  it(`refuses a replay while ${TENANT_LIMITS.running_replays} of the tenant's replays are running`, async () => {
    const tenant = await createTenant();
    await fill(
      `INSERT INTO replays (id, tenant_id, filter) SELECT 'rpl_FILL' || g || $1, $1, '{}' FROM generate_series(1, $2) g`,
      tenant,
      TENANT_LIMITS.running_replays,
    );
    const res = await api<Problem>('POST', `/v1/tenants/${tenant}/replays`, {});
    expect(res.status).toBe(409);
    expect(res.body).toMatchObject({ code: 'limit_reached' });
  });

  it('refuses a where filter over 16 KiB with 422 filter_too_large, on subscriptions and replays', async () => {
    const tenant = await createTenant();
    const where = { 'data.customer': { $in: Array.from({ length: 20_000 }, (_, i) => i) } };
    const sub = await api<Problem>('POST', `/v1/tenants/${tenant}/subscriptions`, { types: ['orders.created'], where, action: webhook });
    expect(sub.status).toBe(422);
    expect(sub.body).toMatchObject({ code: 'filter_too_large', errors: [{ pointer: '/where' }] });
    const replay = await api<Problem>('POST', `/v1/tenants/${tenant}/replays`, { where });
    expect(replay.status).toBe(422);
    expect(replay.body).toMatchObject({ code: 'filter_too_large' });
    const small = await api('POST', `/v1/tenants/${tenant}/subscriptions`, {
      types: ['orders.created'],
      where: { 'data.customer': { $in: [1, 2, 3] } },
      action: webhook,
    });
    expect(small.status).toBe(201);
  });
});

describe('replay ranges', () => {
  it('refuses a replay whose from is not before its to with 422 naming /to, instead of running an empty replay', async () => {
    const tenant = await createTenant();
    const res = await api<Problem>('POST', `/v1/tenants/${tenant}/replays`, { from: '2030-01-01T00:00:00Z', to: '2020-01-01T00:00:00Z' });
    expect(res.status).toBe(422);
    expect(res.body).toMatchObject({ code: 'validation_failed', errors: [{ pointer: '/to' }] });
    expect((await api('GET', `/v1/tenants/${tenant}/replays`)).body).toMatchObject({ data: [] });
  });
});

describe('event-type schemas a tenant keeps are bounded', () => {
  const fill = (tenant: string, type: string, count: number, schema: string) =>
    withTestDb((db) =>
      db.query(`INSERT INTO event_types (tenant_id, type, version, schema) SELECT $1, $2, g, $4::jsonb FROM generate_series(1, $3) g`, [
        tenant,
        type,
        count,
        schema,
      ]),
    );

  it('refuses a version past the schema bytes budget with 409 limit_reached, and takes it again once a type is deleted', async () => {
    const tenant = await createTenant();
    // 17 versions of a 250 KB schema: just over 4 MiB with one more
    await fill(tenant, 'bulk.schema', 16, JSON.stringify({ type: 'object', description: 'x'.repeat(250_000) }));
    const schema = { type: 'object', description: 'y'.repeat(250_000) };
    const over = await api<Problem>('PUT', `/v1/tenants/${tenant}/event-types/orders.created`, { schema });
    expect(over.status).toBe(409);
    expect(over.body).toMatchObject({ code: 'limit_reached' });
    expect(over.body.detail).toContain('MiB');
    expect((await api('DELETE', `/v1/tenants/${tenant}/event-types/bulk.schema`)).status).toBe(204);
    expect((await api('PUT', `/v1/tenants/${tenant}/event-types/orders.created`, { schema })).status).toBe(201);
  });

  it(`refuses the ${SCHEMA_LIMITS.versions + 1}st schema version with 409 limit_reached`, async () => {
    const tenant = await createTenant();
    await fill(tenant, 'bulk.small', SCHEMA_LIMITS.versions, '{"type":"object"}');
    const over = await api<Problem>('PUT', `/v1/tenants/${tenant}/event-types/orders.created`, { schema: { type: 'object' } });
    expect(over.status).toBe(409);
    expect(over.body).toMatchObject({ code: 'limit_reached' });
  });
});

describe('problem answers stay small and coded', () => {
  it(`lists at most ${MAX_FIELD_ERRORS} field errors, then how many more, for a body with 50,000 unknown fields`, async () => {
    const body = JSON.stringify({ name: 'many', ...Object.fromEntries(Array.from({ length: 50_000 }, (_, i) => [`k${i}`, 1])) });
    const res = await rawJson('POST', '/v1/tenants', body);
    expect(res.status).toBe(422);
    expect(res.body.code).toBe('validation_failed');
    expect(res.body.errors).toHaveLength(MAX_FIELD_ERRORS + 1);
    expect(res.body.errors![0]).toEqual({ pointer: '/k0', detail: 'unknown field "k0"' });
    expect(res.body.errors!.at(-1)!.detail).toContain(`${50_000 - MAX_FIELD_ERRORS} more`);
    expect(JSON.stringify(res.body).length).toBeLessThan(10_000);
  });

  it('answers a management body that is not JSON with 415 unsupported_media_type', async () => {
    const tenant = await createTenant();
    const res = await call(`/v1/tenants/${tenant}/sources`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await adminToken()}`, 'content-type': 'text/plain' },
      body: '{"name":"x"}',
    });
    expect(res.status).toBe(415);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(await res.json()).toMatchObject({ code: 'unsupported_media_type' });
  });
});

describe('a stuck replay does not lock a tenant out', () => {
  it('starts a replay when the running ones are older than a day', async () => {
    const tenant = await createTenant();
    await withTestDb((db) =>
      db.query(
        `INSERT INTO replays (id, tenant_id, filter, created_at) SELECT 'rpl_OLD' || g || $1, $1, '{}', now() - interval '2 days' FROM generate_series(1, $2) g`,
        [tenant, TENANT_LIMITS.running_replays],
      ),
    );
    expect((await api('POST', `/v1/tenants/${tenant}/replays`, {})).status).toBe(202);
  });
});
