/**
 * Every tenant route of the OpenAPI document (so a new route is covered as soon as it is registered),
 * tried with another tenant's token and with tokens lacking the scope the document declares.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { api, createTenant, eventually, ingest, makeEvent, type TestSource } from '../fixtures/api';
import { receiverPath } from '../fixtures/receiver';

type Operation = { security?: Record<string, string[]>[] };
type Doc = { paths: Record<string, Record<string, Operation>> };
interface Route {
  method: string;
  path: string;
  scopes: string[];
}

const METHODS = ['get', 'put', 'post', 'patch', 'delete'];
const TENANT_PATH = '/v1/tenants/{tenantId}';

/** A tenant with one of everything, all marked so a leak is easy to spot. */
async function populate(marker: string): Promise<{ params: Record<string, string>; secrets: string[] }> {
  const tenantId = await createTenant(`tenant ${marker}`);
  const source = await api<{ id: string; secret: string }>('POST', `/v1/tenants/${tenantId}/sources`, { name: `source ${marker}` });
  const { url } = receiverPath();
  const subscription = await api<{ id: string; secret: string }>('POST', `/v1/tenants/${tenantId}/subscriptions`, {
    name: `sub ${marker}`,
    types: ['**'],
    action: { type: 'webhook', config: { url } },
  });
  const plugin = await api<{ id: string }>('POST', `/v1/tenants/${tenantId}/plugins`, {
    type: 'set-attributes',
    name: `p-${marker}`,
    config: { set: { marker } },
  });
  await api('PUT', `/v1/tenants/${tenantId}/event-types/orders.created`, { schema: { type: 'object' }, description: `type ${marker}` });
  const test: TestSource = { tenantId, sourceId: source.body.id, secret: source.body.secret };
  const event = await (await ingest(test, makeEvent({ data: { marker } }))).json<{ id: string }>();
  const delivery = await eventually(
    async () => (await api<{ data: { id: string }[] }>('GET', `/v1/tenants/${tenantId}/deliveries?event_id=${event.id}`)).body.data[0],
  );
  const replay = await api<{ id: string }>('POST', `/v1/tenants/${tenantId}/replays`, { subscription_id: subscription.body.id });
  const listener = await api<{ id: string; secret: string }>('POST', `/v1/tenants/${tenantId}/listeners`, { name: `l-${marker}`.slice(0, 64) });
  const retry = await api<{ id: string }>('POST', `/v1/tenants/${tenantId}/deliveries/retry`, { subscription_id: subscription.body.id });
  for (const res of [source, subscription, plugin, replay, listener, retry]) expect(res.status, JSON.stringify(res.body)).toBeLessThan(300);
  return {
    params: {
      tenantId,
      sourceId: source.body.id,
      subscriptionId: subscription.body.id,
      pluginId: plugin.body.id,
      type: 'orders.created',
      eventId: event.id,
      deliveryId: delivery.id,
      replayId: replay.body.id,
      listenerId: listener.body.id,
      retryId: retry.body.id,
      // an archived day and part (README "Retention and archive"); none exists, a 404 of its own
      day: '2026-01-01',
      part: '0',
    },
    secrets: [source.body.secret, subscription.body.secret, listener.body.secret],
  };
}

function fill(path: string, params: Record<string, string>): string {
  return path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = params[name];
    if (value === undefined) throw new Error(`no fixture for path parameter {${name}} in ${path}: add one to populate()`);
    return value;
  });
}

const tokens = new Map<string, string>();
async function tokenFor(tenantId: string, scopes: string[] | undefined): Promise<string> {
  const key = `${tenantId} ${JSON.stringify(scopes)}`;
  if (!tokens.has(key)) {
    const minted = await api<{ token: string }>('POST', `/v1/tenants/${tenantId}/tokens`, scopes === undefined ? {} : { scopes });
    expect(minted.status, JSON.stringify(minted.body)).toBe(201);
    tokens.set(key, minted.body.token);
  }
  return tokens.get(key)!;
}

/** Scopes that would satisfy `scope`: itself, its resource's write scope, and `*`. */
function satisfying(scope: string): string[] {
  const [resource] = scope.split(':');
  return [scope, `${resource}:write`, '*'];
}

const routes: Route[] = [];
let allScopes: string[] = [];
let mine: Awaited<ReturnType<typeof populate>>;
let theirs: Awaited<ReturnType<typeof populate>>;
const MARK = `leak-${crypto.randomUUID().slice(0, 8)}`;

beforeAll(async () => {
  const doc = (await api<Doc>('GET', '/openapi.json')).body;
  for (const [path, item] of Object.entries(doc.paths)) {
    if (path !== TENANT_PATH && !path.startsWith(`${TENANT_PATH}/`)) continue;
    for (const method of METHODS) {
      const op = item[method];
      if (op) routes.push({ method: method.toUpperCase(), path, scopes: op.security?.[0]?.bearer ?? [] });
    }
  }
  // the scopes a token can be minted with, as the document states them
  const mint = doc.paths[`${TENANT_PATH}/tokens`]?.post as {
    requestBody: { content: { 'application/json': { schema: { properties: { scopes: { items: { enum: string[] } } } } } } };
  };
  allScopes = mint.requestBody.content['application/json'].schema.properties.scopes.items.enum;
  mine = await populate(`mine-${crypto.randomUUID().slice(0, 8)}`);
  theirs = await populate(MARK);
}, 60_000);

describe('tenant isolation matrix', () => {
  it('finds every tenant route in the OpenAPI document, each declaring its need', () => {
    expect(routes.length).toBeGreaterThanOrEqual(30);
    for (const route of routes) expect(route.scopes.length, `${route.method} ${route.path}`).toBeLessThanOrEqual(1);
    expect(allScopes).toEqual(expect.arrayContaining(['*', 'sources:write', 'events:read', 'subscriptions:write', 'plugins:write', 'deliveries:write']));
  });

  it('answers 404 tenant_not_found and shows nothing of the other tenant on every route', async () => {
    const token = await tokenFor(mine.params.tenantId!, undefined);
    for (const route of routes) {
      const res = await api(route.method, fill(route.path, theirs.params), route.method === 'GET' || route.method === 'DELETE' ? undefined : {}, token);
      const label = `${route.method} ${route.path}`;
      expect(res.status, label).toBe(404);
      expect(res.body, label).toMatchObject({ code: 'tenant_not_found' });
      const text = JSON.stringify(res.body);
      expect(text, label).not.toContain(MARK);
      for (const secret of theirs.secrets) expect(text, label).not.toContain(secret);
      // only the tenant id the caller itself sent may be echoed
      for (const [name, value] of Object.entries(theirs.params))
        if (!['tenantId', 'type', 'day', 'part'].includes(name)) expect(text, label).not.toContain(value);
    }
  });

  it('answers 403 insufficient_scope on every route to a token holding every scope but the one it needs', async () => {
    let checked = 0;
    for (const route of routes) {
      const need = route.scopes[0];
      if (!need || need === 'admin') continue;
      const token = await tokenFor(
        mine.params.tenantId!,
        allScopes.filter((s) => !satisfying(need).includes(s)),
      );
      const res = await api(route.method, fill(route.path, mine.params), route.method === 'GET' || route.method === 'DELETE' ? undefined : {}, token);
      const label = `${route.method} ${route.path} without ${need}`;
      expect(res.status, label).toBe(403);
      expect(res.body, label).toMatchObject({ code: 'insufficient_scope' });
      expect(res.headers.get('www-authenticate'), label).toContain(`scope="${need}"`);
      checked++;
    }
    expect(checked).toBeGreaterThanOrEqual(27);
  });

  it('lets a token with only the declared scope through on every route', async () => {
    for (const route of [...routes].sort((a, b) => Number(a.method === 'DELETE') - Number(b.method === 'DELETE'))) {
      const need = route.scopes[0];
      if (need === 'admin') continue;
      const token = await tokenFor(mine.params.tenantId!, need ? [need] : []);
      const res = await api(route.method, fill(route.path, mine.params), route.method === 'GET' || route.method === 'DELETE' ? undefined : {}, token);
      const label = `${route.method} ${route.path} with ${need ?? 'no scope'}`;
      expect([401, 403], label).not.toContain(res.status);
      expect((res.body as { code?: string } | null)?.code, label).not.toBe('tenant_not_found');
    }
  });

  it('keeps admin-only routes for admin tokens, whatever scopes a tenant token holds', async () => {
    const token = await tokenFor(mine.params.tenantId!, ['*']);
    const adminOnly = routes.filter((r) => r.scopes[0] === 'admin');
    expect(adminOnly.map((r) => `${r.method} ${r.path}`)).toEqual(
      expect.arrayContaining(['POST /v1/tenants/{tenantId}/tokens', 'PATCH /v1/tenants/{tenantId}']),
    );
    for (const route of adminOnly) {
      const res = await api(route.method, fill(route.path, mine.params), {}, token);
      expect(res, `${route.method} ${route.path}`).toMatchObject({ status: 403, body: { code: 'forbidden' } });
    }
    expect((await api('POST', '/v1/tenants', { name: 'x' }, token)).status).toBe(403);
  });
});

describe('scopes', () => {
  it('treats write as including read, and a token without scopes as full access', async () => {
    const { tenantId } = mine.params;
    const writer = await tokenFor(tenantId!, ['subscriptions:write']);
    expect((await api('GET', `/v1/tenants/${tenantId}/subscriptions`, undefined, writer)).status).toBe(200);
    expect((await api('GET', `/v1/tenants/${tenantId}/sources`, undefined, writer)).status).toBe(403);
    const full = await tokenFor(tenantId!, undefined);
    expect((await api('GET', `/v1/tenants/${tenantId}/audit-log`, undefined, full)).status).toBe(200);
    const none = await tokenFor(tenantId!, []);
    expect((await api('GET', `/v1/tenants/${tenantId}`, undefined, none)).status).toBe(200);
    expect((await api('GET', `/v1/tenants/${tenantId}/events`, undefined, none)).status).toBe(403);
  });

  it('refuses to mint a token with a scope that does not exist', async () => {
    const res = await api('POST', `/v1/tenants/${mine.params.tenantId}/tokens`, { scopes: ['events:delete'] });
    expect(res).toMatchObject({ status: 422, body: { code: 'validation_failed' } });
  });
});
