import { CompactSign, exportJWK, FlattenedSign, generateKeyPair } from 'jose';
import { describe, expect, it } from 'vitest';
import { jws } from '../../plugins/jws';
import { utf8 } from '../../src/lib/encoding';
import { testEnv } from '../fixtures/api';

async function keyPair(alg: 'EdDSA' | 'ES256') {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  return { privateKey, jwk: { ...(await exportJWK(publicKey)), kid: crypto.randomUUID(), alg } };
}

async function detached(privateKey: CryptoKey, alg: string, body: string, header: Record<string, unknown> = {}) {
  const token = await new CompactSign(utf8(body)).setProtectedHeader({ alg, ...header }).sign(privateKey);
  const [h, , s] = token.split('.');
  return `${h}..${s}`;
}

function verify(config: Record<string, unknown>, signature: string | null, body: string, now = Date.now()) {
  const parsed = jws.config.parse(config);
  return jws.verify({
    headers: new Headers(signature ? { 'jws-signature': signature } : {}),
    body: utf8(body),
    config: parsed,
    secrets: [],
    now,
    signal: new AbortController().signal,
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

  it('refuses configs that name both or neither key source, or a private key', () => {
    expect(jws.config.safeParse({}).success).toBe(false);
    expect(jws.config.safeParse({ jwk: { kty: 'OKP', crv: 'Ed25519', x: 'abc', d: 'secret' } }).success).toBe(false);
    expect(jws.config.safeParse({ jwk: { kty: 'OKP' }, jwks_url: 'https://example.com/jwks' }).success).toBe(false);
  });
});
