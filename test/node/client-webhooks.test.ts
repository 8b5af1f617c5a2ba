/**
 * `verifyWebhook` and `signWebhook` of @switchyard/client against the official `standardwebhooks`
 * package (v1, both directions), Ed25519 (v1a) keys, secret rotation, the timestamp tolerance and
 * tampering. Deliveries signed by the runtime itself are checked in client-runtime.test.ts.
 */
import { generateKeyPairSync } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import {
  generateWebhookSecret,
  signWebhook,
  verifyWebhook,
  WebhookVerificationError,
  type WebhookVerificationReason,
} from '../../packages/client/src/index.ts';

const event = { specversion: '1.0', id: 'evt_1', ce_id: 'order-1', source: 'shop', type: 'order.created', data: { amount: 42 } };
const body = JSON.stringify(event);

async function refusal(promise: Promise<unknown>): Promise<WebhookVerificationReason> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(WebhookVerificationError);
  return (error as WebhookVerificationError).reason;
}

/** An Ed25519 pair as Switchyard writes it: whsk_<32-byte seed>, whpk_<32-byte public key>. */
function ed25519Pair(): { secret: string; publicKey: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const jwk = privateKey.export({ format: 'jwk' });
  return {
    secret: `whsk_${Buffer.from(jwk.d!, 'base64url').toString('base64')}`,
    publicKey: `whpk_${Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url').toString('base64')}`,
  };
}

describe('verifyWebhook', () => {
  it('accepts a message the standardwebhooks package signed and returns the parsed event', async () => {
    const secret = generateWebhookSecret();
    const timestamp = new Date();
    const headers = {
      'webhook-id': 'msg_1',
      'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)),
      'webhook-signature': new Webhook(secret).sign('msg_1', timestamp, body),
    };
    await expect(verifyWebhook({ secrets: secret, headers, body })).resolves.toEqual(event);
    await expect(verifyWebhook({ secrets: secret, headers: new Headers(headers), body: new TextEncoder().encode(body) })).resolves.toEqual(event);
  });

  it('signs what the standardwebhooks package accepts', async () => {
    const secret = generateWebhookSecret();
    const headers = await signWebhook({ id: 'msg_2', body, secrets: secret });
    expect(new Webhook(secret).verify(body, headers)).toEqual(event);
    expect(() => new Webhook(generateWebhookSecret()).verify(body, headers)).toThrow();
  });

  it('accepts any of several secrets when a rotation is under way', async () => {
    const [old, current, unrelated] = [generateWebhookSecret(), generateWebhookSecret(), generateWebhookSecret()];
    // the sender signs with both during the grace period; the receiver may know either
    const both = await signWebhook({ id: 'msg_3', body, secrets: [current, old] });
    expect(both['webhook-signature'].split(' ')).toHaveLength(2);
    await expect(verifyWebhook({ secrets: old, headers: both, body })).resolves.toEqual(event);
    await expect(verifyWebhook({ secrets: current, headers: both, body })).resolves.toEqual(event);
    // the receiver holds both while the sender has moved on to the new one
    const newOnly = await signWebhook({ id: 'msg_3', body, secrets: current });
    await expect(verifyWebhook({ secrets: [old, current], headers: newOnly, body })).resolves.toEqual(event);
    expect(await refusal(verifyWebhook({ secrets: [unrelated, old], headers: newOnly, body }))).toBe('no_matching_signature');
  });

  it('checks v1a Ed25519 signatures with whpk_ public keys, alongside whsec_ secrets', async () => {
    const pair = ed25519Pair();
    const hmac = generateWebhookSecret();
    const headers = await signWebhook({ id: 'msg_4', body, secrets: pair.secret });
    expect(headers['webhook-signature']).toMatch(/^v1a,/);
    await expect(verifyWebhook({ secrets: [hmac, pair.publicKey], headers, body })).resolves.toEqual(event);
    expect(await refusal(verifyWebhook({ secrets: [hmac, ed25519Pair().publicKey], headers, body }))).toBe('no_matching_signature');
    // a v1a signature is no v1 MAC, whatever whsec_ secret is tried
    expect(await refusal(verifyWebhook({ secrets: hmac, headers, body }))).toBe('no_matching_signature');
  });

  it('refuses a timestamp outside the tolerance, in either direction', async () => {
    const secret = generateWebhookSecret();
    const now = Date.now();
    const at = (offsetSeconds: number) => signWebhook({ id: 'msg_5', body, secrets: secret, timestamp: Math.floor(now / 1000) + offsetSeconds });
    expect(await refusal(verifyWebhook({ secrets: secret, headers: await at(-301), body, now }))).toBe('timestamp_too_old');
    expect(await refusal(verifyWebhook({ secrets: secret, headers: await at(301), body, now }))).toBe('timestamp_too_new');
    await expect(verifyWebhook({ secrets: secret, headers: await at(-299), body, now })).resolves.toEqual(event);
    await expect(verifyWebhook({ secrets: secret, headers: await at(299), body, now })).resolves.toEqual(event);
    // a receiver may narrow or widen it
    expect(await refusal(verifyWebhook({ secrets: secret, headers: await at(-61), body, now, toleranceSeconds: 60 }))).toBe('timestamp_too_old');
    await expect(verifyWebhook({ secrets: secret, headers: await at(-3600), body, now, toleranceSeconds: 7200 })).resolves.toEqual(event);
  });

  it('refuses a tampered body, id or timestamp', async () => {
    const secret = generateWebhookSecret();
    const headers = await signWebhook({ id: 'msg_6', body, secrets: secret });
    const tampered = body.replace('42', '4200');
    expect(await refusal(verifyWebhook({ secrets: secret, headers, body: tampered }))).toBe('no_matching_signature');
    expect(await refusal(verifyWebhook({ secrets: secret, headers: { ...headers, 'webhook-id': 'msg_7' }, body }))).toBe('no_matching_signature');
    const later = String(Number(headers['webhook-timestamp']) + 1);
    expect(await refusal(verifyWebhook({ secrets: secret, headers: { ...headers, 'webhook-timestamp': later }, body }))).toBe('no_matching_signature');
  });

  it('names missing headers and a signed body that is not a CloudEvent', async () => {
    const secret = generateWebhookSecret();
    const headers = await signWebhook({ id: 'msg_8', body, secrets: secret });
    const { 'webhook-signature': _signature, ...unsigned } = headers;
    expect(await refusal(verifyWebhook({ secrets: secret, headers: unsigned, body }))).toBe('missing_headers');
    expect(await refusal(verifyWebhook({ secrets: secret, headers: { ...headers, 'webhook-timestamp': 'yesterday' }, body }))).toBe('missing_headers');
    for (const text of ['not json', '[1,2]', '{"data":1}']) {
      const signed = await signWebhook({ id: 'msg_9', body: text, secrets: secret });
      expect(await refusal(verifyWebhook({ secrets: secret, headers: signed, body: text })), text).toBe('invalid_body');
    }
  });

  it('reads headers in any case, as plain records from Node servers carry them', async () => {
    const secret = generateWebhookSecret();
    const signed = await signWebhook({ id: 'msg_10', body, secrets: secret });
    const headers = { 'Webhook-Id': signed['webhook-id'], 'WEBHOOK-TIMESTAMP': signed['webhook-timestamp'], 'webhook-signature': signed['webhook-signature'] };
    await expect(verifyWebhook({ secrets: secret, headers, body })).resolves.toEqual(event);
  });

  it('throws a TypeError for a malformed secret, a configuration mistake rather than a bad request', async () => {
    const headers = await signWebhook({ id: 'msg_11', body, secrets: generateWebhookSecret() });
    await expect(verifyWebhook({ secrets: 'whsec_!!', headers, body })).rejects.toBeInstanceOf(TypeError);
    await expect(verifyWebhook({ secrets: [], headers, body })).rejects.toBeInstanceOf(TypeError);
  });
});
