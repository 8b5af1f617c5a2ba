import { describe, expect, it } from 'vitest';
import { toHex, utf8 } from '../../src/lib/encoding';
import { api, call, createTenant, eventually } from '../fixtures/api';

async function hmacHex(secret: string, message: string): Promise<string> {
  const key = await crypto.subtle.importKey('raw', utf8(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return toHex(new Uint8Array(await crypto.subtle.sign('HMAC', key, utf8(message))));
}

async function providerSource(type: string, secret: string) {
  const tenant = await createTenant();
  const res = await api<{ id: string; secret: string }>('POST', `/v1/tenants/${tenant}/sources`, { name: type, verifier: { type, config: {}, secret } });
  expect(res.status).toBe(201);
  expect(res.body.secret).toBe(secret);
  return { tenant, sourceId: res.body.id };
}

async function storedEvent(tenant: string, id: string) {
  return eventually(async () => {
    const got = await api<Record<string, unknown>>('GET', `/v1/tenants/${tenant}/events/${id}`);
    return got.status === 200 ? got.body : null;
  });
}

describe('provider webhooks verified at the door', () => {
  it('accepts a GitHub push signed as GitHub signs it, dedupes a redelivery, and refuses a tampered body', async () => {
    const secret = 'gh-webhook-secret-123';
    const { tenant, sourceId } = await providerSource('github', secret);
    const body = JSON.stringify({ ref: 'refs/heads/main', repository: { full_name: 'acme/shop' }, commits: [] });
    const send = async (payload: string, signature?: string) =>
      call(`/v1/ingest/${sourceId}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-github-event': 'push',
          'x-github-delivery': '72d3162e-cc78-11e3-81ab-4c9367dc0958',
          'x-hub-signature-256': signature ?? `sha256=${await hmacHex(secret, payload)}`,
        },
        body: payload,
      });

    const first = await send(body);
    expect(first.status).toBe(202);
    const accepted = await first.json<{ id: string; sequence: number; duplicate: boolean }>();
    expect(accepted.duplicate).toBe(false);
    expect(await storedEvent(tenant, accepted.id)).toMatchObject({
      type: 'github.push',
      ce_id: '72d3162e-cc78-11e3-81ab-4c9367dc0958',
      source: 'https://github.com/acme/shop',
      data: { ref: 'refs/heads/main' },
    });

    const redelivery = await send(body);
    expect(await redelivery.json()).toEqual({ ...accepted, duplicate: true });

    const tampered = await send(body.replace('main', 'evil'), `sha256=${await hmacHex(secret, body)}`);
    expect(tampered.status).toBe(401);
    expect(await tampered.json()).toMatchObject({ code: 'invalid_signature' });
  });

  it('accepts a Stripe event signed as Stripe signs it, dedupes a retry, and refuses a stale or tampered one', async () => {
    const secret = 'whsec_stripe_test_secret_abc';
    const { tenant, sourceId } = await providerSource('stripe', secret);
    const payload = JSON.stringify({
      id: 'evt_1NG8Du2eZvKYlo2CUI79vXWy',
      object: 'event',
      type: 'invoice.paid',
      created: 1686089970,
      data: { object: { id: 'in_123', amount_paid: 2000 } },
    });
    const send = async (body: string, t = Math.floor(Date.now() / 1000), signedBody = body) =>
      call(`/v1/ingest/${sourceId}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'stripe-signature': `t=${t},v1=${await hmacHex(secret, `${t}.${signedBody}`)}` },
        body,
      });

    const first = await send(payload);
    expect(first.status).toBe(202);
    const accepted = await first.json<{ id: string }>();
    expect(await storedEvent(tenant, accepted.id)).toMatchObject({ type: 'stripe.invoice.paid', ce_id: 'evt_1NG8Du2eZvKYlo2CUI79vXWy', subject: 'in_123' });

    const retry = await send(payload);
    expect(await retry.json()).toMatchObject({ id: accepted.id, duplicate: true });

    const stale = await send(payload, Math.floor(Date.now() / 1000) - 3600);
    expect(stale.status).toBe(401);
    expect(await stale.json()).toMatchObject({ code: 'stale_signature' });
    const tampered = await send(payload.replace('2000', '1'), undefined, payload);
    expect(tampered.status).toBe(401);
  });
});
