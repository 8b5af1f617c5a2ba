import { describe, expect, it } from 'vitest';
import { connect } from '../../src/db/client';
import { databaseRefusal } from '../../src/http/database-refusal';
import { adminToken, api, call, createSource, createTenant, ingest, makeEvent, testEnv } from '../fixtures/api';

type Problem = { code: string; detail: string; errors?: { pointer: string; detail: string }[] };

/** Sends a raw JSON text, so keys like `__proto__` reach the server exactly as written. */
async function raw(method: string, path: string, body: string): Promise<{ status: number; body: Problem; type: string | null }> {
  const res = await call(path, { method, headers: { authorization: `Bearer ${await adminToken()}`, 'content-type': 'application/json' }, body });
  return { status: res.status, type: res.headers.get('content-type'), body: await res.json<Problem>() };
}

const pointers = (p: { body: Problem }) => (p.body.errors ?? []).map((e) => e.pointer);

describe('prototype keys', () => {
  it('refuses a where of {"__proto__": …} with 422 instead of a filter matching every event', async () => {
    const tenant = await createTenant();
    const res = await raw(
      'POST',
      `/v1/tenants/${tenant}/subscriptions`,
      '{"types":["**"],"action":{"type":"webhook","config":{"url":"https://example.com/h"}},"where":{"__proto__":{"data.amount":{"$gt":1}}}}',
    );
    expect(res).toMatchObject({ status: 422, body: { code: 'forbidden_key' } });
    expect(pointers(res)).toEqual(['/where/__proto__']);
    expect((await api<{ data: unknown[] }>('GET', `/v1/tenants/${tenant}/subscriptions`)).body.data).toEqual([]);
  });

  it('refuses constructor and prototype in where paths and as keys in configs', async () => {
    const tenant = await createTenant();
    const action = { type: 'webhook', config: { url: 'https://example.com/h' } };
    const path = await api<Problem>('POST', `/v1/tenants/${tenant}/subscriptions`, { types: ['**'], action, where: { 'data.constructor.name': 'Object' } });
    expect(path).toMatchObject({ status: 422, body: { code: 'invalid_filter' } });
    expect(pointers(path)).toEqual(['/where/data.constructor.name']);
    const replay = await raw('POST', `/v1/tenants/${tenant}/replays`, '{"where":{"$or":[{"__proto__":{}}]}}');
    expect(replay).toMatchObject({ status: 422, body: { code: 'forbidden_key' } });
    expect(pointers(replay)).toEqual(['/where/$or/0/__proto__']);
    const config = await raw('POST', `/v1/tenants/${tenant}/plugins`, '{"type":"set-attributes","name":"s","config":{"set":{"prototype":"x"}}}');
    expect(pointers(config)).toEqual(['/config/set/prototype']);
  });
});

describe('unknown fields', () => {
  it('answers 422 pointing at verifier.config.secret and saying it belongs at verifier.secret', async () => {
    const tenant = await createTenant();
    const res = await api<Problem>('POST', `/v1/tenants/${tenant}/sources`, {
      name: 'gh',
      verifier: { type: 'github', config: { secret: 'my-github-secret' } },
    });
    expect(res.status).toBe(422);
    expect(pointers(res)).toEqual(['/verifier/config/secret']);
    expect(res.body.errors![0]!.detail).toContain('verifier.secret');
    const right = await api<{ secret: string }>('POST', `/v1/tenants/${tenant}/sources`, {
      name: 'gh',
      verifier: { type: 'github', secret: 'my-github-secret' },
    });
    expect(right).toMatchObject({ status: 201, body: { secret: 'my-github-secret' } });
  });

  it('refuses a supplied secret the verifier would silently replace with its own', async () => {
    const tenant = await createTenant();
    const res = await api<Problem>('POST', `/v1/tenants/${tenant}/sources`, {
      name: 'j',
      verifier: { type: 'jws', config: { jwks_url: 'https://example.com/jwks' }, secret: 'not-used-at-all' },
    });
    expect(res).toMatchObject({ status: 422, body: { code: 'secret_not_accepted' } });
    expect(pointers(res)).toEqual(['/verifier/secret']);
  });

  it('keeps a whsec_ secret brought from another Standard Webhooks sender and refuses a malformed one', async () => {
    const tenant = await createTenant();
    const brought = `whsec_${btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(24))))}`;
    const created = await api<{ id: string; secret: string }>('POST', `/v1/tenants/${tenant}/sources`, {
      name: 'svix',
      verifier: { type: 'standard-webhooks', secret: brought },
    });
    expect(created).toMatchObject({ status: 201, body: { secret: brought } });
    expect((await ingest({ tenantId: tenant, sourceId: created.body.id, secret: brought }, makeEvent())).status).toBe(202);
    const malformed = await api<Problem>('POST', `/v1/tenants/${tenant}/sources`, {
      name: 'bad',
      verifier: { type: 'standard-webhooks', secret: 'whsec_not-base64-at-all!!' },
    });
    expect(malformed).toMatchObject({ status: 422, body: { code: 'secret_not_accepted' } });
    expect(pointers(malformed)).toEqual(['/verifier/secret']);
  });

  it('answers 422 naming each unknown field in bodies, nested objects, PATCH bodies and plugin configs', async () => {
    const { tenantId } = await createSource();
    const t = `/v1/tenants/${tenantId}`;
    const cases: [string, string, unknown, string][] = [
      ['POST', '/v1/tenants', { name: 'x', colour: 'red' }, '/colour'],
      ['POST', '/v1/tenants', { name: 'x', rate_limits: { tenant: { requests: 1, window_seconds: 1, burst: 5 } } }, '/rate_limits/tenant/burst'],
      ['PATCH', t, { nmae: 'typo' }, '/nmae'],
      ['POST', `${t}/tokens`, { ttl: 60 }, '/ttl'],
      ['POST', `${t}/sources`, { name: 's', verifier: { type: 'hmac', config: { header: 'x-sig', algo: 'sha1' } } }, '/verifier/config/algo'],
      [
        'POST',
        `${t}/subscriptions`,
        { types: ['**'], action: { type: 'webhook', config: { url: 'https://example.com/h', retries: 3 } } },
        '/action/config/retries',
      ],
      [
        'POST',
        `${t}/subscriptions`,
        { types: ['**'], action: { type: 'webhook', config: { url: 'https://example.com/h' } }, filter: { subject: 'x' } },
        '/filter',
      ],
      ['POST', `${t}/subscriptions`, { types: ['**'], action: { plugin_id: 'plg_x', config: {} } }, '/action/config'],
      ['POST', `${t}/plugins`, { type: 'redact', name: 'r', config: { pointers: ['/data/card'] }, kind: 'transformer' }, '/kind'],
      ['POST', `${t}/plugins`, { type: 'webhook', name: 'w', config: { url: 'https://example.com/h', timeout: 5 } }, '/config/timeout'],
      ['PUT', `${t}/event-types/orders.created`, { schema: { type: 'object' }, version: 2 }, '/version'],
      ['POST', `${t}/replays`, { form: '2026-01-01T00:00:00Z' }, '/form'],
    ];
    for (const [method, path, body, pointer] of cases) {
      const res = await api<Problem>(method, path, body);
      expect(res.status, `${method} ${path} ${JSON.stringify(body)}`).toBe(422);
      expect(pointers(res), `${method} ${path}`).toContain(pointer);
    }
  });

  it('answers 422 for an unknown field in a subscription or plugin PATCH', async () => {
    const tenant = await createTenant();
    const sub = await api<{ id: string }>('POST', `/v1/tenants/${tenant}/subscriptions`, {
      types: ['**'],
      action: { type: 'webhook', config: { url: 'https://example.com/h' } },
    });
    const patched = await api<Problem>('PATCH', `/v1/tenants/${tenant}/subscriptions/${sub.body.id}`, { enabled: false, paused: true });
    expect(patched.status).toBe(422);
    expect(pointers(patched)).toEqual(['/paused']);
    const plugin = await api<{ id: string }>('POST', `/v1/tenants/${tenant}/plugins`, { type: 'redact', name: 'r', config: { pointers: ['/data/card'] } });
    const config = await api<Problem>('PATCH', `/v1/tenants/${tenant}/plugins/${plugin.body.id}`, { config: { pointers: ['/data/card'], masked: '*' } });
    expect(config).toMatchObject({ status: 422, body: { code: 'invalid_plugin_config' } });
    expect(pointers(config)).toEqual(['/config/masked']);
  });
});

/** Pointers of object schemas with named properties that still allow others. */
function looseObjects(schema: unknown, defs: Record<string, unknown>, at = '', seen = new Set<unknown>()): string[] {
  if (!schema || typeof schema !== 'object' || seen.has(schema)) return [];
  seen.add(schema);
  const s = schema as Record<string, unknown>;
  if (typeof s.$ref === 'string') return looseObjects(defs[s.$ref.split('/').pop()!], defs, at, seen);
  const here = s.properties && s.additionalProperties !== false ? [at || '/'] : [];
  return here.concat(Object.entries(s).flatMap(([k, v]) => (k === 'example' || k === 'default' ? [] : looseObjects(v, defs, `${at}/${k}`, seen))));
}

describe('strict schemas', () => {
  it('documents every request body and plugin config as closed to unknown fields', async () => {
    const doc = await (await call('/openapi.json')).json<{
      paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: unknown }> } }>>;
      components: { schemas: Record<string, unknown> };
    }>();
    const loose: string[] = [];
    let bodies = 0;
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        const schema = op.requestBody?.content['application/json']?.schema;
        if (!schema) continue;
        bodies++;
        loose.push(...looseObjects(schema, doc.components.schemas).map((p) => `${method} ${path} ${p}`));
      }
    }
    expect(bodies).toBeGreaterThan(10);
    expect(loose).toEqual([]);
    const catalog = await api<{ data: { id: string; config_schema: unknown }[] }>('GET', '/v1/plugins');
    // a JWK is the JOSE standard's open object (kid, alg, use, x5c, …), checked by the key import
    const configs = catalog.body.data.flatMap((t) => looseObjects(t.config_schema, {}).map((p) => `${t.id} ${p}`)).filter((p) => p !== 'jws /properties/jwk');
    expect(configs).toEqual([]);
  });
});

describe('values Postgres refuses', () => {
  it('answers 422 invalid_text for NUL or a lone surrogate in a name, a where value or a schema', async () => {
    const tenant = await createTenant();
    const name = await raw('POST', '/v1/tenants', '{"name":"a\\u0000b"}');
    expect(name).toMatchObject({ status: 422, type: 'application/problem+json', body: { code: 'invalid_text' } });
    expect(pointers(name)).toEqual(['/name']);
    const where = await raw(
      'POST',
      `/v1/tenants/${tenant}/subscriptions`,
      '{"types":["**"],"action":{"type":"webhook","config":{"url":"https://example.com/h"}},"where":{"subject":"\\u0000"}}',
    );
    expect(pointers(where)).toEqual(['/where/subject']);
    const schema = await raw('PUT', `/v1/tenants/${tenant}/event-types/orders.created`, '{"schema":{"properties":{"\\ud800":{}}}}');
    expect(schema).toMatchObject({ status: 422, body: { code: 'invalid_text' } });
    expect(pointers(schema)).toEqual(['/schema/properties/\ud800']);
  });

  it('answers 404 for %00 or a malformed id in a path, and 422 for %00 in a filter', async () => {
    const { tenantId, sourceId } = await createSource();
    const t = `/v1/tenants/${tenantId}`;
    for (const [path, code] of [
      ['/v1/tenants/tn_%00', 'tenant_not_found'],
      [`${t}/sources/src_%00`, 'source_not_found'],
      [`${t}/subscriptions/sub_1%00`, 'subscription_not_found'],
      [`${t}/plugins/${sourceId}`, 'plugin_not_found'],
      [`${t}/events/evt_%00`, 'event_not_found'],
      [`${t}/deliveries/dlv_%00`, 'delivery_not_found'],
      [`${t}/replays/%00`, 'replay_not_found'],
    ]) {
      expect(await api('GET', path!), path).toMatchObject({ status: 404, body: { code } });
    }
    const ingest = await call('/v1/ingest/src_%00', { method: 'POST', body: '{}' });
    expect(ingest.status).toBe(404);
    expect(await ingest.json()).toMatchObject({ code: 'source_not_found' });
    const filter = await api<Problem>('GET', `${t}/events?subject=%00`);
    expect(filter).toMatchObject({ status: 422, body: { code: 'invalid_text' } });
    expect(pointers(filter)).toEqual(['/subject']);
  });

  it('answers 422 for dates Postgres cannot hold instead of 500', async () => {
    const { tenantId } = await createSource();
    const t = `/v1/tenants/${tenantId}`;
    for (const path of [`${t}/events?after=0000-01-01T00:00:00Z`, `${t}/events?before=99999-01-01`, `${t}/deliveries?after=0000-01-01T00:00:00Z`]) {
      expect(await api('GET', path), path).toMatchObject({ status: 422, body: { code: 'validation_failed' } });
    }
    const replay = await api<Problem>('POST', `${t}/replays`, { from: '0000-01-01T00:00:00Z' });
    expect(replay.status).toBe(422);
    expect(pointers(replay)).toEqual(['/from']);
  });

  it('maps a data exception Postgres raises to a 422 problem, not a 500', async () => {
    const db = await connect(testEnv);
    try {
      const error = await db.query('SELECT $1::timestamptz', ['0000-01-01T00:00:00Z']).then(
        () => null,
        (e: unknown) => e,
      );
      expect(databaseRefusal(error)).toMatchObject({ status: 422, code: 'invalid_value' });
      const deep = await db.query('SELECT $1::jsonb', ['['.repeat(100_000) + ']'.repeat(100_000)]).then(
        () => null,
        (e: unknown) => e,
      );
      expect(databaseRefusal(deep)).toMatchObject({ status: 422 });
    } finally {
      await db.end();
    }
    expect(databaseRefusal(new Error('socket closed'))).toBeNull();
  });

  it('answers 422 body_too_deep, 400 malformed_json and 413 for bodies it cannot take', async () => {
    const tenant = await createTenant();
    const deep = await raw('PUT', `/v1/tenants/${tenant}/event-types/orders.created`, `{"schema":${'{"not":'.repeat(200)}{}${'}'.repeat(200)}}`);
    expect(deep).toMatchObject({ status: 422, body: { code: 'body_too_deep' } });
    expect(await raw('POST', '/v1/tenants', '{"name":')).toMatchObject({ status: 400, body: { code: 'malformed_json' } });
    const big = await raw('POST', '/v1/tenants', JSON.stringify({ name: 'x'.repeat(2 * 1024 * 1024) }));
    expect(big).toMatchObject({ status: 413, body: { code: 'payload_too_large' } });
  });
});

describe('concurrent registrations', () => {
  it('gives concurrent schema registrations of one event type distinct versions instead of a 500', async () => {
    const tenant = await createTenant();
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        api<{ version: number }>('PUT', `/v1/tenants/${tenant}/event-types/orders.created`, { schema: { type: 'object', title: `v${i}` } }),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(Array(8).fill(201));
    expect(results.map((r) => r.body.version).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });
});

describe('cursors', () => {
  it('answers 400 invalid_cursor for a garbage cursor on every list instead of the first page', async () => {
    const { tenantId } = await createSource();
    const t = `/v1/tenants/${tenantId}`;
    const lists = [
      '/v1/tenants',
      `${t}/sources`,
      `${t}/subscriptions`,
      `${t}/plugins`,
      `${t}/deliveries`,
      `${t}/event-types`,
      `${t}/events`,
      `${t}/audit-log`,
      `${t}/replays`,
    ];
    for (const list of lists) {
      for (const cursor of ['zzz', 'not base64!', btoa('c:@@'), btoa('c:99999999999999999999'), btoa('x')]) {
        const res = await api<Problem>('GET', `${list}?cursor=${cursor}`);
        expect(res, `${list}?cursor=${cursor}`).toMatchObject({ status: 400, body: { code: 'invalid_cursor' } });
      }
    }
  });
});
