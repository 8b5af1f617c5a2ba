import { describe, expect, it } from 'vitest';
import { stripe } from '../../plugins/stripe';
import { toHex, utf8 } from '../../src/lib/encoding';
import { toIngestEvent } from '../../src/ingest/envelope';
import { verifierFetch } from '../../src/delivery/verifier-egress';

const SECRET = 'whsec_test_secret_0123456789abcdef';
const T = 1700000000;
const BODY =
  '{"id":"evt_1NG8Du2eZvKYlo2CUI79vXWy","object":"event","type":"invoice.paid","created":1700000000,"data":{"object":{"id":"in_1NG8Dt2eZvKYlo2C","object":"invoice","amount_paid":2000}}}';
// printf '%s' "1700000000.$BODY" | openssl dgst -sha256 -hmac whsec_test_secret_0123456789abcdef
const V1 = '880a1e08e4e49946bf7ec49e76c52f8d7f036f833e7b4a89912fc5a442c0e4cf';

/** Signs as Stripe documents it: HMAC-SHA256 of `${t}.${body}`, keyed with the whsec_ string itself. */
async function sign(secret: string, t: number, body: string): Promise<string> {
  const key = await crypto.subtle.importKey('raw', utf8(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return toHex(new Uint8Array(await crypto.subtle.sign('HMAC', key, utf8(`${t}.${body}`))));
}

function verify(header: string | null, options: { body?: string; secrets?: string[]; now?: number } = {}) {
  return stripe.verify({
    headers: new Headers(header === null ? {} : { 'stripe-signature': header }),
    body: utf8(options.body ?? BODY),
    config: {},
    secrets: options.secrets ?? [SECRET],
    now: options.now ?? T * 1000,
    signal: new AbortController().signal,
    fetch: verifierFetch([]),
  });
}

describe('stripe verifier', () => {
  it('signs the fixed vector exactly as openssl does', async () => {
    expect(await sign(SECRET, T, BODY)).toBe(V1);
  });

  it('wraps the event into a stripe.invoice.paid CloudEvent when the v1 signature matches', async () => {
    const result = await verify(`t=${T},v1=${V1}`);
    expect(result.ok && result.event && toIngestEvent(result.event).ok).toBe(true);
    expect(result).toEqual({
      ok: true,
      scheme: 'v1',
      event: {
        specversion: '1.0',
        id: 'evt_1NG8Du2eZvKYlo2CUI79vXWy',
        source: 'https://api.stripe.com',
        type: 'stripe.invoice.paid',
        subject: 'in_1NG8Dt2eZvKYlo2C',
        time: '2023-11-14T22:13:20.000Z',
        datacontenttype: 'application/json',
        data: JSON.parse(BODY),
      },
    });
  });

  it('accepts when any one of several v1 signatures matches and ignores v0', async () => {
    const other = toHex(crypto.getRandomValues(new Uint8Array(32)));
    expect(await verify(`t=${T},v1=${other},v1=${V1},v0=${other}`)).toMatchObject({ ok: true });
    expect(await verify(`t=${T},v0=${V1}`)).toMatchObject({ ok: false, code: 'invalid_signature' });
  });

  it('accepts the previous secret while an endpoint secret is rolled', async () => {
    expect(await verify(`t=${T},v1=${V1}`, { secrets: ['whsec_new_one', SECRET] })).toMatchObject({ ok: true });
  });

  it('rejects the request when one byte of the body changes', async () => {
    expect(await verify(`t=${T},v1=${V1}`, { body: BODY.replace('2000', '2001') })).toMatchObject({ ok: false, code: 'invalid_signature' });
  });

  it('rejects the request when it was signed with another secret', async () => {
    expect(await verify(`t=${T},v1=${V1}`, { secrets: ['whsec_someone_else'] })).toMatchObject({ ok: false, code: 'invalid_signature' });
  });

  it('rejects the request when the timestamp is changed, since t is signed', async () => {
    expect(await verify(`t=${T + 1},v1=${V1}`)).toMatchObject({ ok: false, code: 'invalid_signature' });
  });

  it('holds the timestamp to 300 s in both directions', async () => {
    const at = (offset: number) => verify(`t=${T},v1=${V1}`, { now: (T + offset) * 1000 });
    expect(await at(300)).toMatchObject({ ok: true });
    expect(await at(-300)).toMatchObject({ ok: true });
    expect(await at(301)).toMatchObject({ ok: false, code: 'stale_signature' });
    expect(await at(-301)).toMatchObject({ ok: false, code: 'stale_signature' });
  });

  it('refuses a Stripe-Signature with thousands of v1 entries, even one holding the valid signature', async () => {
    const other = toHex(new Uint8Array(32).fill(1));
    const flood = await verify(`t=${T},${Array<string>(8000).fill(`v1=${other}`).join(',')},v1=${V1}`);
    expect(flood).toMatchObject({ ok: false, code: 'invalid_signature', detail: expect.stringContaining('at most 4096') });
    const eleven = await verify(`t=${T},${Array<string>(10).fill(`v0=${other}`).join(',')},v1=${V1}`);
    expect(eleven).toMatchObject({
      ok: false,
      code: 'invalid_signature',
      detail: 'Stripe-Signature holds 12 entries; at most a timestamp and 10 signatures are accepted',
    });
    expect(await verify(`t=${T},${Array<string>(9).fill(`v1=${other}`).join(',')},v1=${V1}`)).toMatchObject({ ok: true });
  });

  it('answers stale_signature to an old timestamp before checking any signature', async () => {
    const forged = toHex(new Uint8Array(32).fill(1));
    expect(await verify(`t=${T - 3600},v1=${forged}`)).toMatchObject({ ok: false, code: 'stale_signature' });
  });

  it('verifies a freshly signed event at the current time', async () => {
    const now = Math.floor(Date.now() / 1000);
    const body = JSON.stringify({ id: 'evt_fresh', type: 'customer.subscription.updated', created: now, data: { object: { id: 'sub_1' } } });
    const result = await verify(`t=${now},v1=${await sign(SECRET, now, body)}`, { body, now: Date.now() });
    expect(result.ok && result.event).toMatchObject({ id: 'evt_fresh', type: 'stripe.customer.subscription.updated', subject: 'sub_1' });
  });

  it('reports missing_signature when the header is absent and invalid_signature when it is garbled', async () => {
    expect(await verify(null)).toMatchObject({ ok: false, code: 'missing_signature' });
    expect(await verify(`v1=${V1}`)).toMatchObject({ ok: false, code: 'invalid_signature' });
    expect(await verify(`t=${T}`)).toMatchObject({ ok: false, code: 'invalid_signature' });
    expect(await verify(`t=soon,v1=${V1}`)).toMatchObject({ ok: false, code: 'invalid_signature' });
    expect(await verify('garbage')).toMatchObject({ ok: false, code: 'invalid_signature' });
  });

  it('keeps a secret Stripe showed and makes a whsec_ one when none is supplied', async () => {
    expect(await stripe.provision({}, 'whsec_from_dashboard')).toEqual({ config: {}, secrets: ['whsec_from_dashboard'] });
    expect((await stripe.provision({})).secrets[0]).toMatch(/^whsec_[0-9a-f]{48}$/);
  });
});
