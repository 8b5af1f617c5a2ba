import { describe, expect, it } from 'vitest';
import { standardWebhooks } from '../../plugins/standard-webhooks';
import { signV1 } from '../../src/plugins/kit/signing';
import { toBase64, utf8 } from '../../src/lib/encoding';
import { verifierFetch } from '../../src/delivery/verifier-egress';

// The reference vector published with the Standard Webhooks libraries.
const REF = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: 1614265330,
  body: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};

function verify(headers: Record<string, string>, options: { body?: string; secrets?: string[]; publicKeys?: string[]; now?: number } = {}) {
  return standardWebhooks.verify({
    headers: new Headers(headers),
    body: utf8(options.body ?? REF.body),
    config: { public_keys: options.publicKeys },
    secrets: options.secrets ?? [REF.secret],
    now: options.now ?? REF.timestamp * 1000,
    signal: new AbortController().signal,
    fetch: verifierFetch([]),
  });
}

const refHeaders = { 'webhook-id': REF.id, 'webhook-timestamp': String(REF.timestamp), 'webhook-signature': REF.signature };

describe('standard-webhooks verifier', () => {
  it('signs the reference vector exactly as the specification does', async () => {
    expect(await signV1(REF.secret, REF.id, REF.timestamp, utf8(REF.body))).toBe(REF.signature);
  });

  it('accepts the reference vector', async () => {
    expect(await verify(refHeaders)).toEqual({ ok: true, scheme: 'v1', signedId: REF.id });
  });

  it('rejects the reference signature when one byte of the body changes', async () => {
    expect(await verify(refHeaders, { body: '{"test": 2432232315}' })).toMatchObject({ ok: false, code: 'invalid_signature' });
  });

  it('rejects a signature made with another secret', async () => {
    expect(await verify(refHeaders, { secrets: ['whsec_' + toBase64(crypto.getRandomValues(new Uint8Array(24)))] })).toMatchObject({
      ok: false,
      code: 'invalid_signature',
    });
  });

  it('reports missing headers as missing_signature', async () => {
    const { 'webhook-signature': _, ...rest } = refHeaders;
    expect(await verify(rest)).toMatchObject({ ok: false, code: 'missing_signature' });
  });

  it('rejects garbled signatures and timestamps', async () => {
    expect(await verify({ ...refHeaders, 'webhook-signature': 'v1,!!!not-base64' })).toMatchObject({ ok: false, code: 'invalid_signature' });
    expect(await verify({ ...refHeaders, 'webhook-signature': 'garbage' })).toMatchObject({ ok: false, code: 'invalid_signature' });
    expect(await verify({ ...refHeaders, 'webhook-timestamp': '16142653e0' })).toMatchObject({ ok: false, code: 'invalid_signature' });
  });

  it('holds the timestamp to 5 minutes in both directions', async () => {
    const at = (offsetSeconds: number) => verify(refHeaders, { now: (REF.timestamp + offsetSeconds) * 1000 });
    expect(await at(299)).toMatchObject({ ok: true });
    expect(await at(-299)).toMatchObject({ ok: true });
    expect(await at(301)).toMatchObject({ ok: false, code: 'stale_signature' });
    expect(await at(-301)).toMatchObject({ ok: false, code: 'stale_signature' });
  });

  it('accepts when any one of several signatures matches (rotation)', async () => {
    const other = 'v1,' + toBase64(crypto.getRandomValues(new Uint8Array(32)));
    expect(await verify({ ...refHeaders, 'webhook-signature': `${other} ${REF.signature}` })).toMatchObject({ ok: true });
    // the old and the new secret are both configured while a rotation's grace period runs
    const newer = 'whsec_' + toBase64(crypto.getRandomValues(new Uint8Array(24)));
    expect(await verify(refHeaders, { secrets: [newer, REF.secret] })).toMatchObject({ ok: true });
  });

  it('refuses a header with more than 10 signatures, or longer than 4 KB, without trying any of them', async () => {
    const wrong = 'v1,' + toBase64(new Uint8Array(32).fill(1));
    // the valid signature is among them: over the cap, nothing is tried at all
    const many = await verify({ ...refHeaders, 'webhook-signature': [...Array<string>(8000).fill(wrong), REF.signature].join(' ') });
    expect(many).toEqual({ ok: false, code: 'invalid_signature', detail: 'webhook-signature is 384047 characters long; at most 4096 are accepted' });
    const eleven = await verify({ ...refHeaders, 'webhook-signature': [...Array<string>(10).fill('v2,x'), REF.signature].join(' ') });
    expect(eleven).toEqual({ ok: false, code: 'invalid_signature', detail: 'webhook-signature holds 11 signatures; at most 10 are accepted' });
    expect(await verify({ ...refHeaders, 'webhook-signature': [...Array<string>(9).fill(wrong), REF.signature].join(' ') })).toMatchObject({ ok: true });
  });

  it('verifies v1a Ed25519 signatures against the configured public key', async () => {
    const pair = (await crypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify'])) as CryptoKeyPair;
    const raw = new Uint8Array((await crypto.subtle.exportKey('raw', pair.publicKey)) as ArrayBuffer);
    const publicKey = `whpk_${toBase64(raw)}`;
    const content = utf8(`${REF.id}.${REF.timestamp}.${REF.body}`);
    const signature = new Uint8Array(await crypto.subtle.sign('Ed25519', pair.privateKey, content));
    const headers = { ...refHeaders, 'webhook-signature': `v1a,${toBase64(signature)}` };
    expect(await verify(headers, { secrets: [], publicKeys: [publicKey] })).toEqual({ ok: true, scheme: 'v1a', signedId: REF.id });
    expect(await verify(headers, { secrets: [], publicKeys: [publicKey], body: REF.body + ' ' })).toMatchObject({ ok: false, code: 'invalid_signature' });
  });

  it('refuses more v1a signature-key pairs than it will check, and checks two signatures against eight keys', async () => {
    const pair = (await crypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify'])) as CryptoKeyPair;
    const publicKey = `whpk_${toBase64(new Uint8Array((await crypto.subtle.exportKey('raw', pair.publicKey)) as ArrayBuffer))}`;
    const others = Array.from({ length: 7 }, (_, i) => `whpk_${toBase64(new Uint8Array(32).fill(i + 1))}`);
    const signature = new Uint8Array(await crypto.subtle.sign('Ed25519', pair.privateKey, utf8(`${REF.id}.${REF.timestamp}.${REF.body}`)));
    const wrong = `v1a,${toBase64(new Uint8Array(64).fill(9))}`;
    const header = (count: number) => ({
      ...refHeaders,
      'webhook-signature': [...Array<string>(count - 1).fill(wrong), `v1a,${toBase64(signature)}`].join(' '),
    });
    expect(await verify(header(3), { secrets: [], publicKeys: [...others, publicKey] })).toMatchObject({
      ok: false,
      code: 'invalid_signature',
      detail: expect.stringContaining('at most 16 signature-key pairs'),
    });
    expect(await verify(header(2), { secrets: [], publicKeys: [...others, publicKey] })).toMatchObject({ ok: true, scheme: 'v1a' });
  });
});
