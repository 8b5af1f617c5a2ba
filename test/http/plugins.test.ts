import { describe, expect, it } from 'vitest';
import { adminToken, api, call, createSource, createTenant, eventually, ingest, makeEvent, testEnv, withTestDb } from '../fixtures/api';

type Plugin = { id: string; version: number; kind: string; type: string; config: Record<string, unknown> };

const orderSchema = {
  type: 'object',
  required: ['amount'],
  properties: { amount: { type: 'number', minimum: 0 }, currency: { type: 'string', minLength: 3, maxLength: 3 } },
};

describe('plugin catalog and instances', () => {
  it('lists every built-in type with its config as JSON Schema', async () => {
    const res = await api<{ data: { id: string; kind: string; config_schema: Record<string, unknown> }[] }>('GET', '/v1/plugins');
    expect(res.status).toBe(200);
    const ids = res.body.data.map((t) => t.id);
    expect(ids).toEqual(expect.arrayContaining(['standard-webhooks', 'jws', 'github', 'stripe', 'hmac', 'json-schema', 'set-attributes', 'redact']));
    const redact = res.body.data.find((t) => t.id === 'redact')!;
    expect(redact.kind).toBe('transformer');
    expect(redact.config_schema).toMatchObject({ type: 'object', properties: expect.objectContaining({ pointers: expect.anything() }) });
  });

  it('refuses an unknown type and a config that fails its schema with 422 and field errors', async () => {
    const tenant = await createTenant();
    const unknown = await api('POST', `/v1/tenants/${tenant}/plugins`, { type: 'nope', name: 'x' });
    expect(unknown).toMatchObject({ status: 422, body: { code: 'unknown_plugin_type' } });
    const bad = await api<{ errors: { pointer: string }[] }>('POST', `/v1/tenants/${tenant}/plugins`, {
      type: 'redact',
      name: 'x',
      config: { pointers: 'not-an-array' },
    });
    expect(bad).toMatchObject({ status: 422, body: { code: 'invalid_plugin_config' } });
    expect(bad.body.errors[0]!.pointer).toMatch(/^\/config\/pointers/);
    const badPattern = await api('POST', `/v1/tenants/${tenant}/plugins`, {
      type: 'redact',
      name: 'x',
      config: { pointers: ['/data/a'] },
      event_types: ['orders..x'],
    });
    expect(badPattern).toMatchObject({ status: 422, body: { code: 'validation_failed' } });
  });

  it('supports read, list, If-Match update and delete of an instance', async () => {
    const tenant = await createTenant();
    const created = await api<Plugin>('POST', `/v1/tenants/${tenant}/plugins`, { type: 'redact', name: 'pii', config: { pointers: ['/data/card'] } });
    expect(created.status).toBe(201);
    expect(created.headers.get('etag')).toBe(`"${created.body.id}.1"`);
    const dup = await api('POST', `/v1/tenants/${tenant}/plugins`, { type: 'redact', name: 'pii', config: { pointers: ['/data/x'] } });
    expect(dup).toMatchObject({ status: 409, body: { code: 'plugin_name_taken' } });

    const listed = await api<{ data: Plugin[] }>('GET', `/v1/tenants/${tenant}/plugins?kind=transformer`);
    expect(listed.body.data.map((p) => p.id)).toEqual([created.body.id]);

    const res = await fetchPatch(tenant, created.body.id, { config: { pointers: ['/data/card', '/data/email'] } }, '"stale.0"');
    expect(res.status).toBe(412);
    const ok = await fetchPatch(tenant, created.body.id, { config: { pointers: ['/data/card', '/data/email'] } }, created.headers.get('etag')!);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ version: 2, config: { pointers: ['/data/card', '/data/email'] } });

    expect((await api('DELETE', `/v1/tenants/${tenant}/plugins/${created.body.id}`)).status).toBe(204);
    expect((await api('GET', `/v1/tenants/${tenant}/plugins/${created.body.id}`)).body).toMatchObject({ code: 'plugin_not_found' });
  });

  it('redacts fields before storage for matching event types only, and applies a change on the next event', async () => {
    const source = await createSource();
    const plugin = await api<Plugin>('POST', `/v1/tenants/${source.tenantId}/plugins`, {
      type: 'redact',
      name: 'pii',
      config: { pointers: ['/data/card'] },
      event_types: ['orders.*'],
    });
    expect(plugin.status).toBe(201);
    const stored = async (event: Record<string, unknown>) => {
      const { id } = await (await ingest(source, event)).json<{ id: string }>();
      return eventData(source.tenantId, id);
    };
    expect(await stored(makeEvent({ data: { card: '4242', amount: 1 } }))).toEqual({ card: '[REDACTED]', amount: 1 });
    expect(await stored(makeEvent({ type: 'users.created', data: { card: '4242' } }))).toEqual({ card: '4242' });

    await fetchPatch(source.tenantId, plugin.body.id, { config: { pointers: ['/data/card'], mode: 'remove' } });
    expect(await stored(makeEvent({ data: { card: '4242', amount: 2 } }))).toEqual({ amount: 2 });
  });

  it('refuses to delete a verifier instance a source uses, and verifies with it', async () => {
    const tenant = await createTenant();
    const verifier = await api<Plugin>('POST', `/v1/tenants/${tenant}/plugins`, { type: 'standard-webhooks', name: 'std' });
    const source = await api<{ id: string; secret: string }>('POST', `/v1/tenants/${tenant}/sources`, { name: 's', verifier: { plugin_id: verifier.body.id } });
    expect(source.status).toBe(201);
    expect(source.body.secret).toMatch(/^whsec_/);
    expect((await ingest({ tenantId: tenant, sourceId: source.body.id, secret: source.body.secret }, makeEvent())).status).toBe(202);
    const del = await api('DELETE', `/v1/tenants/${tenant}/plugins/${verifier.body.id}`);
    expect(del).toMatchObject({ status: 409, body: { code: 'plugin_in_use' } });
  });

  it('fails closed with validator_failed when a validator instance cannot run, and other sources keep working', async () => {
    const source = await createSource();
    const plugin = await api<Plugin>('POST', `/v1/tenants/${source.tenantId}/plugins`, {
      type: 'json-schema',
      name: 'v',
      config: { schema: orderSchema },
      event_types: ['orders.*'],
    });
    // a stored config that no longer parses (as after a plugin type changed its schema)
    await withTestDb((db) => db.query(`UPDATE plugins SET config = '{"schema": 5}' WHERE id = $1`, [plugin.body.id]));
    await testEnv.TENANT_LOG.getByName(source.tenantId).setConfigVersion(1_000); // even a version Postgres never had
    const res = await ingest(source, makeEvent());
    expect(res.status).toBe(422);
    expect(await res.json()).toMatchObject({ code: 'validator_failed' });
    expect((await ingest(source, makeEvent({ type: 'users.created' }))).status).toBe(202);
    const other = await createSource();
    expect((await ingest(other, makeEvent())).status).toBe(202);
  });
});

describe('event-type schemas', () => {
  it('rejects a previously accepted payload once a schema is registered, and accepts it again once deleted', async () => {
    const source = await createSource();
    const bad = () => makeEvent({ data: { amount: -5, currency: 'EURO' } });
    expect((await ingest(source, bad())).status).toBe(202);

    const put = await api<{ version: number }>('PUT', `/v1/tenants/${source.tenantId}/event-types/orders.created`, { schema: orderSchema });
    expect(put).toMatchObject({ status: 201, body: { version: 1, type: 'orders.created' } });

    const rejected = await ingest(source, bad());
    expect(rejected.status).toBe(422);
    const problem = await rejected.json<{ code: string; errors: { pointer: string }[] }>();
    expect(problem.code).toBe('schema_violation');
    expect(problem.errors.map((e) => e.pointer).sort()).toEqual(['/data/amount', '/data/currency']);
    expect((await ingest(source, makeEvent())).status).toBe(202);

    expect((await api('DELETE', `/v1/tenants/${source.tenantId}/event-types/orders.created`)).status).toBe(204);
    expect((await ingest(source, bad())).status).toBe(202);
  });

  it('refuses an event without data of a type with a schema with 422, not 500, alone or in a batch', async () => {
    const source = await createSource();
    await api('PUT', `/v1/tenants/${source.tenantId}/event-types/orders.created`, { schema: orderSchema });
    const { data: _data, ...bare } = makeEvent();
    const single = await ingest(source, bare);
    expect(single.status).toBe(422);
    expect(await single.json()).toMatchObject({ code: 'schema_violation', errors: [{ pointer: '/data' }] });
    const batch = await ingest(source, [makeEvent(), { ...makeEvent(), data: undefined, data_base64: 'AAEC' }], 'application/cloudevents-batch+json');
    expect(batch.status).toBe(202);
    const { results } = await batch.json<{ results: { status: number; code?: string }[] }>();
    expect(results.map((r) => r.status)).toEqual([202, 422]);
  });

  it('keeps versions and validates against the newest', async () => {
    const tenant = await createTenant();
    await api('PUT', `/v1/tenants/${tenant}/event-types/orders.created`, { schema: orderSchema });
    const v2 = await api('PUT', `/v1/tenants/${tenant}/event-types/orders.created`, {
      schema: { ...orderSchema, required: ['amount', 'currency'] },
      description: 'currency now required',
      // a newly required field breaks the default backward compatibility (README "Schema evolution")
      compatibility: 'none',
    });
    expect(v2.body).toMatchObject({ version: 2 });
    const read = await api<{ version: number; versions: { version: number }[] }>('GET', `/v1/tenants/${tenant}/event-types/orders.created`);
    expect(read.body.version).toBe(2);
    expect(read.body.versions.map((v) => v.version)).toEqual([2, 1]);
  });

  it('refuses a schema that is not valid JSON Schema with 422 invalid_schema', async () => {
    const tenant = await createTenant();
    const res = await api('PUT', `/v1/tenants/${tenant}/event-types/orders.created`, { schema: { type: 12 } });
    expect(res).toMatchObject({ status: 422, body: { code: 'invalid_schema' } });
    const badType = await api('PUT', `/v1/tenants/${tenant}/event-types/notdotted`, { schema: {} });
    expect(badType.status).toBe(422);
  });

  it('applies a schema registered by another isolate on the next event, through the config version', async () => {
    const source = await createSource();
    expect((await ingest(source, makeEvent({ data: { amount: -1 } }))).status).toBe(202); // rules now cached here
    // what another isolate's PUT does: write Postgres, bump the version, tell the log; our cache is untouched
    const version = await withTestDb(async (db) => {
      await db.query(`INSERT INTO event_types (tenant_id, type, version, schema) VALUES ($1, 'orders.created', 1, $2)`, [
        source.tenantId,
        JSON.stringify(orderSchema),
      ]);
      const r = await db.query<{ config_version: string }>('UPDATE tenants SET config_version = config_version + 1 WHERE id = $1 RETURNING config_version', [
        source.tenantId,
      ]);
      return Number(r.rows[0]!.config_version);
    });
    await testEnv.TENANT_LOG.getByName(source.tenantId).setConfigVersion(version);
    const res = await ingest(source, makeEvent({ data: { amount: -1 } }));
    expect(res.status).toBe(422);
    expect(await res.json()).toMatchObject({ code: 'schema_violation' });
  });
});

async function fetchPatch(tenant: string, id: string, body: unknown, ifMatch?: string): Promise<Response> {
  return call(`/v1/tenants/${tenant}/plugins/${id}`, {
    method: 'PATCH',
    headers: { authorization: `Bearer ${await adminToken()}`, 'content-type': 'application/json', ...(ifMatch ? { 'if-match': ifMatch } : {}) },
    body: JSON.stringify(body),
  });
}

async function eventData(tenantId: string, id: string): Promise<unknown> {
  return eventually(async () => {
    const got = await api<{ data: unknown }>('GET', `/v1/tenants/${tenantId}/events/${id}`);
    return got.status === 200 ? got.body.data : null;
  });
}
