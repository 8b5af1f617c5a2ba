import { env } from 'cloudflare:workers';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { api, createTenant } from '../fixtures/api';

const testEnv = env as Env & { CONTROL_URL: string };
let idpKey: CryptoKey;
let otherKey: CryptoKey;

function idpToken(claims: Record<string, unknown>, options: { key?: CryptoKey; issuer?: string } = {}): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'ES256', kid: 'idp-1' })
    .setIssuer(options.issuer ?? testEnv.AUTH_JWKS_ISSUER!)
    .setSubject('alice@example.com')
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(options.key ?? idpKey);
}

beforeAll(async () => {
  const pair = await generateKeyPair('ES256', { extractable: true });
  idpKey = pair.privateKey;
  otherKey = (await generateKeyPair('ES256')).privateKey;
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'idp-1', alg: 'ES256', use: 'sig' };
  const res = await fetch(`${testEnv.CONTROL_URL}/jwks/idp`, { method: 'PUT', body: JSON.stringify({ keys: [jwk] }) });
  expect(res.status).toBe(204);
});

describe('tokens of this deployment (HS256)', () => {
  const key = () => new TextEncoder().encode(testEnv.ADMIN_JWT_SECRET);
  const now = () => Math.floor(Date.now() / 1000);

  it('answers 401 naming exp to an admin or tenant token that never expires', async () => {
    const admin = await new SignJWT({ scope: 'admin', sub: 'forever' }).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().sign(key());
    const res = await api('GET', '/v1/tenants', undefined, admin);
    expect(res).toMatchObject({ status: 401, body: { code: 'unauthorized', detail: expect.stringContaining('no exp claim') } });
    expect(res.headers.get('www-authenticate')).toContain('invalid_token');
    const tenant = await createTenant();
    const tenantToken = await new SignJWT({ scope: 'tenant', tenant }).setProtectedHeader({ alg: 'HS256' }).sign(key());
    expect(await api('GET', `/v1/tenants/${tenant}`, undefined, tenantToken)).toMatchObject({
      status: 401,
      body: { code: 'unauthorized', detail: expect.stringContaining('no exp claim') },
    });
  });

  it('answers 401 to a token that lives longer than 30 days, however its iat is set', async () => {
    const sign = (iat: number | null, exp: number) => {
      const jwt = new SignJWT({ scope: 'admin' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(exp);
      return (iat === null ? jwt : jwt.setIssuedAt(iat)).sign(key());
    };
    const day = 86_400;
    for (const token of [await sign(now(), now() + 31 * day), await sign(null, now() + 365 * day), await sign(now() - 300 * day, now() + day)]) {
      expect(await api('GET', '/v1/tenants', undefined, token)).toMatchObject({
        status: 401,
        body: { code: 'unauthorized', detail: expect.stringContaining('30 days') },
      });
    }
    // what npm run dev prints (scripts/lib/dev-vars.ts) and the longest tenant token POST .../tokens mints
    expect((await api('GET', '/v1/tenants', undefined, await sign(now(), now() + 30 * day))).status).toBe(200);
    const tenant = await createTenant();
    const minted = await api<{ token: string }>('POST', `/v1/tenants/${tenant}/tokens`, { ttl_seconds: 30 * day });
    expect(minted.status).toBe(201);
    expect((await api('GET', `/v1/tenants/${tenant}`, undefined, minted.body.token)).status).toBe(200);
  });
});

describe('admin tokens of an external identity provider (AUTH_JWKS_URL)', () => {
  it("accepts a token with the admin scope, verified against the provider's JWKS, and names its subject in the audit log", async () => {
    const token = await idpToken({ scope: 'openid admin' });
    const created = await api<{ id: string }>('POST', '/v1/tenants', { name: 'from the idp' }, token);
    expect(created.status).toBe(201);
    const log = await api<{ data: { actor: string; action: string }[] }>('GET', `/v1/tenants/${created.body.id}/audit-log`, undefined, token);
    expect(log.body.data).toEqual([expect.objectContaining({ action: 'tenant.created', actor: 'admin:idp:alice@example.com' })]);
    expect((await api('GET', `/v1/tenants/${created.body.id}`, undefined, await idpToken({ scp: ['admin'] }))).status).toBe(200);
  });

  it('answers 403 insufficient_scope to a valid token without the admin scope', async () => {
    const res = await api('POST', '/v1/tenants', { name: 'x' }, await idpToken({ scope: 'openid profile' }));
    expect(res).toMatchObject({ status: 403, body: { code: 'insufficient_scope' } });
    expect(res.headers.get('www-authenticate')).toContain('scope="admin"');
  });

  it('answers 401 to a token signed by another key, from another issuer, or expired', async () => {
    expect((await api('POST', '/v1/tenants', { name: 'x' }, await idpToken({ scope: 'admin' }, { key: otherKey }))).status).toBe(401);
    expect((await api('POST', '/v1/tenants', { name: 'x' }, await idpToken({ scope: 'admin' }, { issuer: 'https://evil.example' }))).status).toBe(401);
    const expired = await new SignJWT({ scope: 'admin' })
      .setProtectedHeader({ alg: 'ES256', kid: 'idp-1' })
      .setIssuer(testEnv.AUTH_JWKS_ISSUER!)
      .setIssuedAt(1_600_000_000)
      .setExpirationTime(1_600_000_600)
      .sign(idpKey);
    expect((await api('POST', '/v1/tenants', { name: 'x' }, expired)).status).toBe(401);
  });

  it('answers 401 naming exp to a provider token without one', async () => {
    const forever = await new SignJWT({ scope: 'admin' })
      .setProtectedHeader({ alg: 'ES256', kid: 'idp-1' })
      .setIssuer(testEnv.AUTH_JWKS_ISSUER!)
      .setIssuedAt()
      .sign(idpKey);
    expect(await api('POST', '/v1/tenants', { name: 'x' }, forever)).toMatchObject({
      status: 401,
      body: { code: 'unauthorized', detail: expect.stringContaining('no exp claim') },
    });
  });

  it('never takes an HS256 token for the provider, nor a provider token for a tenant token', async () => {
    const forged = await new SignJWT({ scope: 'admin' })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode('not-the-deployment-secret-0123456789'));
    expect((await api('POST', '/v1/tenants', { name: 'x' }, forged)).status).toBe(401);
    const tenantShaped = await idpToken({ scope: 'tenant', tenant: 'tn_x' });
    expect((await api('GET', '/v1/tenants/tn_x', undefined, tenantShaped)).status).toBe(403);
  });
});
