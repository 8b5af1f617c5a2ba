import { decodeJwt } from 'jose';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { api, BASE, createSource, createTenant } from '../fixtures/api';
import { receiverPath } from '../fixtures/receiver';

interface Link {
  url: string;
  expires_at: string;
  capabilities: string[];
}

async function mintLink(tenantId: string, body?: Record<string, unknown>): Promise<Link> {
  const res = await api<Link>('POST', `/v1/tenants/${tenantId}/portal-links`, body);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

/** The token a person opening the link signs in with: the URL fragment the console reads. */
function tokenOf(link: Link): string {
  const token = new URL(link.url).hash.match(/^#token=(.+)$/)?.[1];
  if (!token) throw new Error(`no #token= in ${link.url}`);
  return token;
}

/** A tenant with a source and a subscription to rotate. */
async function populated(): Promise<{ tenantId: string; sourceId: string; subscriptionId: string }> {
  const source = await createSource();
  const sub = await api<{ id: string }>('POST', `/v1/tenants/${source.tenantId}/subscriptions`, {
    types: ['orders.*'],
    action: { type: 'webhook', config: { url: receiverPath().url } },
  });
  expect(sub.status).toBe(201);
  return { tenantId: source.tenantId, sourceId: source.sourceId, subscriptionId: sub.body.id };
}

const rotations = (t: { tenantId: string; sourceId: string; subscriptionId: string }) => [
  `/v1/tenants/${t.tenantId}/sources/${t.sourceId}/rotate-secret`,
  `/v1/tenants/${t.tenantId}/subscriptions/${t.subscriptionId}/rotate-secret`,
];

const newSubscription = () => ({ types: ['orders.*'], action: { type: 'webhook', config: { url: receiverPath().url } } });

afterEach(() => {
  vi.useRealTimers();
});

describe('POST /v1/tenants/{t}/portal-links', () => {
  it('mints a one-hour read + manage link to the console when the body is empty', async () => {
    const tenantId = await createTenant('portal');
    const before = Date.now();
    const link = await mintLink(tenantId);
    expect(link.capabilities).toEqual(['read', 'manage']);
    expect(link.url.startsWith(`${BASE}/console/#token=`)).toBe(true);
    const expires = Date.parse(link.expires_at);
    expect(expires).toBeGreaterThanOrEqual(before + 3600_000 - 1000);
    expect(expires).toBeLessThanOrEqual(Date.now() + 3600_000 + 1000);
    const claims = decodeJwt(tokenOf(link));
    expect(claims).toMatchObject({ scope: 'tenant', tenant: tenantId, sub: 'portal', portal: { capabilities: ['read', 'manage'] } });
    expect(claims.exp! * 1000).toBeGreaterThan(expires - 2000);
    expect(claims.scopes).toEqual(
      expect.arrayContaining(['events:read', 'deliveries:read', 'audit-log:read', 'subscriptions:write', 'sources:write', 'deliveries:write']),
    );
    expect(claims.scopes).not.toContain('secrets:write');
    expect(claims.scopes).not.toContain('plugins:write');
    expect(claims.scopes).not.toContain('*');
    const audit = await api<{ data: { action: string; actor: string; details: unknown }[] }>(
      'GET',
      `/v1/tenants/${tenantId}/audit-log?action=portal_link.minted`,
    );
    expect(audit.body.data).toEqual([expect.objectContaining({ actor: 'admin:tests', details: { capabilities: ['read', 'manage'], ttl_seconds: 3600 } })]);
  });

  it('grants read always, and the capabilities asked for once each', async () => {
    const tenantId = await createTenant('portal');
    expect((await mintLink(tenantId, { capabilities: [] })).capabilities).toEqual(['read']);
    const secrets = await mintLink(tenantId, { capabilities: ['secrets', 'secrets'], ttl_seconds: 60 });
    expect(secrets.capabilities).toEqual(['read', 'secrets']);
    expect(decodeJwt(tokenOf(secrets)).scopes).toContain('secrets:write');
    const all = await mintLink(tenantId, { capabilities: ['manage', 'secrets', 'read'], ttl_seconds: 86_400 });
    expect(all.capabilities).toEqual(['read', 'manage', 'secrets']);
    expect(Date.parse(all.expires_at) - Date.now()).toBeGreaterThan(86_000_000);
  });

  it('answers 422 naming the field for a lifetime out of bounds, an unknown capability or an unknown field', async () => {
    const tenantId = await createTenant('portal');
    const cases: [Record<string, unknown>, string][] = [
      [{ ttl_seconds: 59 }, '/ttl_seconds'],
      [{ ttl_seconds: 86_401 }, '/ttl_seconds'],
      [{ ttl_seconds: 600.5 }, '/ttl_seconds'],
      [{ capabilities: ['admin'] }, '/capabilities/0'],
      [{ capabilities: 'read' }, '/capabilities'],
      [{ scopes: ['*'] }, '/scopes'],
    ];
    for (const [body, pointer] of cases) {
      const res = await api<{ code: string; errors: { pointer: string; detail: string }[] }>('POST', `/v1/tenants/${tenantId}/portal-links`, body);
      expect(res.status, JSON.stringify(body)).toBe(422);
      expect(res.body.code).toBe('validation_failed');
      expect(
        res.body.errors.map((e) => e.pointer),
        JSON.stringify(body),
      ).toContain(pointer);
    }
  });

  it('answers 403 forbidden to a tenant token, even one holding every scope, and 404 for an unknown tenant', async () => {
    const tenantId = await createTenant('portal');
    const full = (await api<{ token: string }>('POST', `/v1/tenants/${tenantId}/tokens`, { scopes: ['*'] })).body.token;
    expect(await api('POST', `/v1/tenants/${tenantId}/portal-links`, {}, full)).toMatchObject({ status: 403, body: { code: 'forbidden' } });
    const link = await mintLink(tenantId, { capabilities: ['manage', 'secrets'] });
    expect(await api('POST', `/v1/tenants/${tenantId}/portal-links`, {}, tokenOf(link))).toMatchObject({ status: 403, body: { code: 'forbidden' } });
    const missing = 'tn_01JD9Y3W8N5R2T6V4X7Z0A1B2C';
    expect(await api('POST', `/v1/tenants/${missing}/portal-links`, {})).toMatchObject({ status: 404, body: { code: 'tenant_not_found' } });
    expect(await api('POST', '/v1/tenants/nope/portal-links', {})).toMatchObject({ status: 404, body: { code: 'tenant_not_found' } });
  });
});

describe('a portal link token', () => {
  it("reads its own tenant and gets 404 on another tenant's paths", async () => {
    const mine = await populated();
    const theirs = await populated();
    const token = tokenOf(await mintLink(mine.tenantId, { capabilities: ['read'] }));
    expect((await api('GET', `/v1/tenants/${mine.tenantId}`, undefined, token)).status).toBe(200);
    for (const resource of ['events', 'deliveries', 'subscriptions', 'sources', 'event-types', 'plugins', 'metrics', 'audit-log']) {
      expect((await api('GET', `/v1/tenants/${mine.tenantId}/${resource}`, undefined, token)).status, resource).toBe(200);
    }
    for (const path of [
      `/v1/tenants/${theirs.tenantId}`,
      `/v1/tenants/${theirs.tenantId}/events`,
      `/v1/tenants/${theirs.tenantId}/subscriptions/${theirs.subscriptionId}`,
      ...rotations(theirs),
    ]) {
      const method = path.endsWith('rotate-secret') ? 'POST' : 'GET';
      expect(await api(method, path, method === 'POST' ? {} : undefined, token), path).toMatchObject({ status: 404, body: { code: 'tenant_not_found' } });
    }
  });

  it('cannot create a subscription or rotate a secret with a read link', async () => {
    const t = await populated();
    const token = tokenOf(await mintLink(t.tenantId, { capabilities: ['read'] }));
    const create = await api('POST', `/v1/tenants/${t.tenantId}/subscriptions`, newSubscription(), token);
    expect(create).toMatchObject({ status: 403, body: { code: 'insufficient_scope' } });
    expect(create.headers.get('www-authenticate')).toContain('scope="subscriptions:write"');
    for (const path of rotations(t)) expect(await api('POST', path, {}, token), path).toMatchObject({ status: 403, body: { code: 'insufficient_scope' } });
  });

  it('creates subscriptions with a manage link, acting as the portal, but cannot rotate a secret', async () => {
    const t = await populated();
    const token = tokenOf(await mintLink(t.tenantId));
    const created = await api<{ id: string }>('POST', `/v1/tenants/${t.tenantId}/subscriptions`, newSubscription(), token);
    expect(created.status).toBe(201);
    expect((await api('POST', `/v1/tenants/${t.tenantId}/sources`, { name: 'from the portal' }, token)).status).toBe(201);
    expect((await api('PATCH', `/v1/tenants/${t.tenantId}/subscriptions/${created.body.id}`, { enabled: false }, token)).status).toBe(200);
    for (const path of [...rotations(t), `/v1/tenants/${t.tenantId}/subscriptions/${created.body.id}/rotate-secret`]) {
      const res = await api('POST', path, {}, token);
      expect(res, path).toMatchObject({ status: 403, body: { code: 'insufficient_scope' } });
      expect(res.headers.get('www-authenticate'), path).toContain('scope="secrets:write"');
    }
    // plugins are not part of manage
    expect((await api('POST', `/v1/tenants/${t.tenantId}/plugins`, { type: 'set-attributes', name: 'p', config: { set: {} } }, token)).status).toBe(403);
    const audit = await api<{ data: { actor: string }[] }>('GET', `/v1/tenants/${t.tenantId}/audit-log?action=subscription.created&target=${created.body.id}`);
    expect(audit.body.data).toEqual([expect.objectContaining({ actor: 'tenant:portal' })]);
  });

  it('rotates source and subscription secrets with a secrets link', async () => {
    const t = await populated();
    const token = tokenOf(await mintLink(t.tenantId, { capabilities: ['secrets'] }));
    for (const path of rotations(t)) {
      const res = await api<{ secret: string }>('POST', path, { grace_seconds: 0 }, token);
      expect(res.status, path).toBe(200);
      expect(res.body.secret).toMatch(/^whsec_/);
    }
    // secrets alone does not manage
    expect((await api('POST', `/v1/tenants/${t.tenantId}/subscriptions`, newSubscription(), token)).status).toBe(403);
  });

  it('answers 401 unauthorized once the link has expired', async () => {
    const t = await populated();
    const link = await mintLink(t.tenantId, { ttl_seconds: 60 });
    const token = tokenOf(link);
    expect((await api('GET', `/v1/tenants/${t.tenantId}/events`, undefined, token)).status).toBe(200);
    vi.useFakeTimers({ toFake: ['Date'] });
    // past the expiry and the minute of clock skew tokens are allowed
    vi.setSystemTime(Date.parse(link.expires_at) + 2 * 60_000);
    const res = await api('GET', `/v1/tenants/${t.tenantId}/events`, undefined, token);
    expect(res).toMatchObject({ status: 401, body: { code: 'unauthorized' } });
    expect(res.headers.get('www-authenticate')).toContain('invalid_token');
  });
});

describe('the secrets:write scope', () => {
  it('is what rotation needs: sources:write and subscriptions:write alone no longer rotate', async () => {
    const t = await populated();
    const mint = async (scopes: string[]) => (await api<{ token: string }>('POST', `/v1/tenants/${t.tenantId}/tokens`, { scopes })).body.token;
    const writer = await mint(['sources:write', 'subscriptions:write']);
    for (const path of rotations(t)) expect((await api('POST', path, {}, writer)).status, path).toBe(403);
    const rotator = await mint(['secrets:write']);
    for (const path of rotations(t)) expect((await api('POST', path, {}, rotator)).status, path).toBe(200);
    const everything = await mint(['*']);
    for (const path of rotations(t)) expect((await api('POST', path, {}, everything)).status, path).toBe(200);
  });
});
