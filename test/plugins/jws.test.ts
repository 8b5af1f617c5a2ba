import { CompactSign, exportJWK, FlattenedSign, generateKeyPair } from 'jose';
import { describe, expect, it } from 'vitest';
import { jws } from '../../plugins/jws';
import { utf8 } from '../../src/lib/encoding';
import { api, createTenant, testEnv } from '../fixtures/api';
import { verifierFetch } from '../../src/delivery/verifier-egress';

async function keyPair(alg: 'EdDSA' | 'ES256') {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  return { privateKey, jwk: { ...(await exportJWK(publicKey)), kid: crypto.randomUUID(), alg } };
}

async function detached(privateKey: CryptoKey, alg: string, body: string, header: Record<string, unknown> = {}) {
  const token = await new CompactSign(utf8(body)).setProtectedHeader({ alg, ...header }).sign(privateKey);
  const [h, , s] = token.split('.');
  return `${h}..${s}`;
}

/** The control server, as EGRESS_ALLOWLIST would name it for local testing. */
const controlHost = () => new URL(testEnv.CONTROL_URL).host;

function verify(config: Record<string, unknown>, signature: string | null, body: string, now = Date.now(), allowlist: string[] = [controlHost()]) {
  const parsed = jws.config.parse(config);
  return jws.verify({
    headers: new Headers(signature ? { 'jws-signature': signature } : {}),
    body: utf8(body),
    config: parsed,
    secrets: [],
    now,
    signal: new AbortController().signal,
    fetch: verifierFetch(allowlist),
  });
}

describe('jws verifier', () => {
  it('accepts a detached EdDSA JWS over the raw body with a configured JWK', async () => {
    const { privateKey, jwk } = await keyPair('EdDSA');
    const body = '{"specversion":"1.0"}';
    expect(await verify({ jwk }, await detached(privateKey, 'EdDSA', body, { kid: jwk.kid }), body)).toEqual({ ok: true, scheme: 'EdDSA' });
  });

  it('rejects a tampered body and a missing header', async () => {
    const { privateKey, jwk } = await keyPair('ES256');
    const signature = await detached(privateKey, 'ES256', '{"a":1}');
    expect(await verify({ jwk }, signature, '{"a":2}')).toMatchObject({ ok: false, code: 'invalid_signature' });
    expect(await verify({ jwk }, null, '{"a":1}')).toMatchObject({ ok: false, code: 'missing_signature' });
    expect(await verify({ jwk }, 'not.a.jws.at.all', '{"a":1}')).toMatchObject({ ok: false, code: 'invalid_signature' });
  });

  it('holds an iat in the protected header to the 5-minute tolerance', async () => {
    const { privateKey, jwk } = await keyPair('EdDSA');
    const iat = Math.floor(Date.now() / 1000) - 600;
    const signature = await detached(privateKey, 'EdDSA', '{}', { iat });
    expect(await verify({ jwk }, signature, '{}')).toMatchObject({ ok: false, code: 'stale_signature' });
  });

  it('accepts unencoded payloads (b64: false)', async () => {
    const { privateKey, jwk } = await keyPair('EdDSA');
    const body = '{"x":"y"}';
    const signed = await new FlattenedSign(utf8(body)).setProtectedHeader({ alg: 'EdDSA', b64: false, crit: ['b64'] }).sign(privateKey);
    expect(await verify({ jwk }, `${signed.protected}..${signed.signature}`, body)).toMatchObject({ ok: true });
  });

  it('fetches keys from a JWKS URL and picks the one named by kid', async () => {
    const first = await keyPair('EdDSA');
    const second = await keyPair('ES256');
    const path = `/jwks/${crypto.randomUUID()}`;
    await fetch(`${testEnv.CONTROL_URL}${path}`, { method: 'PUT', body: JSON.stringify({ keys: [first.jwk, second.jwk] }) });
    const body = '{"hello":"jwks"}';
    const signature = await detached(second.privateKey, 'ES256', body, { kid: second.jwk.kid });
    expect(await verify({ jwks_url: `${testEnv.CONTROL_URL}${path}` }, signature, body)).toEqual({ ok: true, scheme: 'ES256' });
  });

  it('answers the same "JWKS could not be fetched" whatever the JWKS URL points at, and never reaches a refused one', async () => {
    const { privateKey, jwk } = await keyPair('EdDSA');
    const body = '{"probe":1}';
    const signature = await detached(privateKey, 'EdDSA', body, { kid: jwk.kid });
    const closedPort = `http://127.0.0.1:1/jwks/${crypto.randomUUID()}`;
    const answers = [
      // refused by the guard: metadata, loopback, plain http to a public host
      await verify({ jwks_url: `http://169.254.169.254/latest/meta-data/${crypto.randomUUID()}` }, signature, body),
      await verify({ jwks_url: `${testEnv.CONTROL_URL}/jwks/${crypto.randomUUID()}` }, signature, body, Date.now(), []),
      await verify({ jwks_url: `http://example.com/${crypto.randomUUID()}.json` }, signature, body),
      // allowed, but nothing there / not a JWKS
      await verify({ jwks_url: closedPort }, signature, body, Date.now(), ['127.0.0.1:1']),
      await verify({ jwks_url: `${testEnv.CONTROL_URL}/no-such-jwks/${crypto.randomUUID()}` }, signature, body),
    ];
    for (const answer of answers) expect(answer).toEqual({ ok: false, code: 'invalid_signature', detail: 'the JWKS could not be fetched' });
  });

  it('does not fetch a failing JWKS again for 10 s, so requests cannot make the runtime hammer it', async () => {
    const { privateKey, jwk } = await keyPair('EdDSA');
    const body = '{"later":1}';
    const signature = await detached(privateKey, 'EdDSA', body, { kid: jwk.kid });
    const path = `/jwks/${crypto.randomUUID()}`;
    const start = Date.now();
    expect(await verify({ jwks_url: `${testEnv.CONTROL_URL}${path}` }, signature, body, start)).toMatchObject({
      ok: false,
      detail: 'the JWKS could not be fetched',
    });
    await fetch(`${testEnv.CONTROL_URL}${path}`, { method: 'PUT', body: JSON.stringify({ keys: [jwk] }) });
    expect(await verify({ jwks_url: `${testEnv.CONTROL_URL}${path}` }, signature, body, start + 5_000)).toMatchObject({
      ok: false,
      detail: 'the JWKS could not be fetched',
    });
    expect(await verify({ jwks_url: `${testEnv.CONTROL_URL}${path}` }, signature, body, start + 11_000)).toEqual({ ok: true, scheme: 'EdDSA' });
  });

  it('refuses a jwks_url the runtime may not fetch when a source or plugin is registered (422 naming the field)', async () => {
    const tenant = await createTenant();
    for (const url of [
      'http://169.254.169.254/latest/meta-data/',
      'https://127.0.0.1/jwks',
      'http://[::1]:8080/jwks',
      'https://metadata.google.internal/jwks',
      'http://example.com/jwks.json',
    ]) {
      const source = await api('POST', `/v1/tenants/${tenant}/sources`, { name: 'jws', verifier: { type: 'jws', config: { jwks_url: url } } });
      expect(source, url).toMatchObject({ status: 422, body: { code: 'invalid_plugin_config', errors: [{ pointer: '/verifier/config/jwks_url' }] } });
      const plugin = await api('POST', `/v1/tenants/${tenant}/plugins`, { type: 'jws', name: 'jws', config: { jwks_url: url } });
      expect(plugin, url).toMatchObject({ status: 422, body: { code: 'invalid_plugin_config', errors: [{ pointer: '/config/jwks_url' }] } });
    }
    const fine = await api('POST', `/v1/tenants/${tenant}/sources`, {
      name: 'jws',
      verifier: { type: 'jws', config: { jwks_url: 'https://example.com/.well-known/jwks.json' } },
    });
    expect(fine.status).toBe(201);
  });

  it('refuses configs that name both or neither key source, or a private key', () => {
    expect(jws.config.safeParse({}).success).toBe(false);
    expect(jws.config.safeParse({ jwk: { kty: 'OKP', crv: 'Ed25519', x: 'abc', d: 'secret' } }).success).toBe(false);
    expect(jws.config.safeParse({ jwk: { kty: 'OKP' }, jwks_url: 'https://example.com/jwks' }).success).toBe(false);
  });
});
