import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { hmac } from '../../plugins/hmac';
import { sha256Hex, toBase64, toHex, utf8 } from '../../src/lib/encoding';
import { toIngestEvent } from '../../src/ingest/envelope';
import { verifierFetch } from '../../src/delivery/verifier-egress';

const SECRET = 'hmac-secret';
const T = 1700000000;

async function mac(hash: 'SHA-1' | 'SHA-256' | 'SHA-512', secret: string, content: string): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey('raw', utf8(secret), { name: 'HMAC', hash }, false, ['sign']);
  return new Uint8Array(await crypto.subtle.sign('HMAC', key, utf8(content)));
}

function verify(config: Record<string, unknown>, headers: Record<string, string>, body: string, options: { secrets?: string[]; now?: number } = {}) {
  return hmac.verify({
    headers: new Headers(headers),
    body: utf8(body),
    config: hmac.config.parse(config),
    secrets: options.secrets ?? [SECRET],
    now: options.now ?? T * 1000,
    signal: new AbortController().signal,
    fetch: verifierFetch([]),
  });
}

describe('hmac verifier', () => {
  it('accepts a hex SHA-256 of the body in x-signature when the config is empty', async () => {
    const body = '{"order":42}';
    const signature = toHex(await mac('SHA-256', SECRET, body));
    const result = await verify({}, { 'x-signature': signature, 'content-type': 'application/json' }, body);
    expect(result).toEqual({
      ok: true,
      scheme: 'hmac-sha256',
      event: {
        specversion: '1.0',
        id: await sha256Hex(body),
        source: 'urn:switchyard:hmac',
        type: 'webhook.received',
        datacontenttype: 'application/json',
        data: { order: 42 },
      },
    });
    expect(result.ok && result.event && toIngestEvent(result.event).ok).toBe(true);
  });

  it('matches fixed openssl vectors for sha1 hex with a prefix and sha512 base64 over timestamp.body', async () => {
    // printf '%s' '{"order":42}' | openssl dgst -sha1 -hmac hmac-secret
    const sha1 = { algorithm: 'sha1', prefix: 'sha1=' };
    expect(await verify(sha1, { 'x-signature': 'sha1=af2443113d7a3f7772a3a06b7a03f519f1ee81bb' }, '{"order":42}')).toMatchObject({
      ok: true,
      scheme: 'hmac-sha1',
    });
    // printf '%s' '1700000000.{"order":42}' | openssl dgst -sha512 -hmac hmac-secret -binary | base64
    const sha512 = { header: 'x-sig', algorithm: 'sha512', encoding: 'base64', signed: 'timestamp.body', timestamp_header: 'x-timestamp' };
    const vector = 'E2qZUy/jYjSLLc/2n4k+XK6N8nXNwBIA5GcIBjv5oAU4o0GAUkaHQnQ/zqg83n2363M5cxTH908Jb2M7trr/pg==';
    expect(await verify(sha512, { 'x-sig': vector, 'x-timestamp': String(T) }, '{"order":42}')).toMatchObject({ ok: true, scheme: 'hmac-sha512' });
    expect(toBase64(await mac('SHA-512', SECRET, `${T}.{"order":42}`))).toBe(vector);
  });

  it('rejects a tampered body, another secret, and a signature without the configured prefix', async () => {
    const body = '{"order":42}';
    const signature = toHex(await mac('SHA-256', SECRET, body));
    expect(await verify({}, { 'x-signature': signature }, '{"order":43}')).toMatchObject({ ok: false, code: 'invalid_signature' });
    expect(await verify({}, { 'x-signature': signature }, body, { secrets: ['other'] })).toMatchObject({ ok: false, code: 'invalid_signature' });
    expect(await verify({ prefix: 'sha256=' }, { 'x-signature': signature }, body)).toMatchObject({ ok: false, code: 'invalid_signature' });
    expect(await verify({}, { 'x-signature': 'zz' }, body)).toMatchObject({ ok: false, code: 'invalid_signature' });
  });

  it('accepts when one of several comma-separated signatures matches', async () => {
    const body = 'hello';
    const good = toHex(await mac('SHA-256', SECRET, body));
    expect(await verify({}, { 'x-signature': `${toHex(crypto.getRandomValues(new Uint8Array(32)))}, ${good}` }, body)).toMatchObject({ ok: true });
  });

  it('refuses a header with thousands of signatures, or more than 10, even when one of them matches', async () => {
    const body = '{"order":42}';
    const good = toHex(await mac('SHA-256', SECRET, body));
    const wrong = toHex(new Uint8Array(32).fill(1));
    const flood = await verify({}, { 'x-signature': [...Array<string>(8000).fill(wrong), good].join(',') }, body);
    expect(flood).toMatchObject({ ok: false, code: 'invalid_signature', detail: expect.stringContaining('at most 4096') });
    const eleven = await verify({}, { 'x-signature': [...Array<string>(10).fill('ab'), good].join(' ') }, body);
    expect(eleven).toEqual({ ok: false, code: 'invalid_signature', detail: 'x-signature holds 11 signatures; at most 10 are accepted' });
    expect(await verify({}, { 'x-signature': [...Array<string>(9).fill(wrong), good].join(',') }, body)).toMatchObject({ ok: true });
  });

  it('holds the timestamp to 300 s and signs it, when signed is timestamp.body', async () => {
    const cfg = { signed: 'timestamp.body', timestamp_header: 'x-timestamp' };
    const body = '{}';
    const signature = toHex(await mac('SHA-256', SECRET, `${T}.${body}`));
    const at = (offset: number) => verify(cfg, { 'x-signature': signature, 'x-timestamp': String(T) }, body, { now: (T + offset) * 1000 });
    expect(await at(300)).toMatchObject({ ok: true });
    expect(await at(-301)).toMatchObject({ ok: false, code: 'stale_signature' });
    expect(await at(301)).toMatchObject({ ok: false, code: 'stale_signature' });
    expect(await verify(cfg, { 'x-signature': signature, 'x-timestamp': String(T + 1) }, body)).toMatchObject({ ok: false, code: 'invalid_signature' });
    expect(await verify(cfg, { 'x-signature': signature, 'x-timestamp': '' }, body)).toMatchObject({ ok: false, code: 'missing_signature' });
    // a body-only MAC must not pass once a timestamp is required
    const bodyOnly = toHex(await mac('SHA-256', SECRET, body));
    expect(await verify(cfg, { 'x-signature': bodyOnly, 'x-timestamp': String(T) }, body)).toMatchObject({ ok: false, code: 'invalid_signature' });
  });

  it('reports missing_signature when the signature or timestamp header is absent', async () => {
    expect(await verify({}, {}, 'x')).toMatchObject({ ok: false, code: 'missing_signature' });
    expect(await verify({ signed: 'timestamp.body', timestamp_header: 'x-ts' }, { 'x-signature': 'ab' }, 'x')).toMatchObject({
      ok: false,
      code: 'missing_signature',
    });
  });

  it('takes id and type from the configured headers and normalises the type to dot-notation', async () => {
    const cfg = { id_header: 'x-delivery', type_header: 'x-event' };
    const body = 'plain text';
    const signature = toHex(await mac('SHA-256', SECRET, body));
    const cases: Array<[string, string]> = [
      ['Order Created', 'webhook.order-created'],
      ['Orders.Shipped', 'orders.shipped'],
      ['..', 'webhook.received'],
    ];
    for (const [raw, type] of cases) {
      const result = await verify(cfg, { 'x-signature': signature, 'x-delivery': 'd-1', 'x-event': raw, 'content-type': 'text/plain' }, body);
      expect(result.ok && result.event).toMatchObject({ id: 'd-1', type, data: 'plain text', datacontenttype: 'text/plain' });
    }
  });

  it('gives identical resends the same id when no id header is configured', async () => {
    const body = '{"same":true}';
    const headers = { 'x-signature': toHex(await mac('SHA-256', SECRET, body)) };
    const first = await verify({ event_type: 'acme.event' }, headers, body);
    const second = await verify({ event_type: 'acme.event' }, headers, body);
    expect(first.ok && first.event?.id).toBe(await sha256Hex(body));
    expect(second).toEqual(first);
  });

  it('refuses configs without a timestamp header for timestamp.body, or with a bad event type', () => {
    expect(hmac.config.safeParse({ signed: 'timestamp.body' }).success).toBe(false);
    expect(hmac.config.safeParse({ event_type: 'nodots' }).success).toBe(false);
    expect(hmac.config.safeParse({ algorithm: 'md5' }).success).toBe(false);
    expect(z.toJSONSchema(hmac.config, { io: 'input' })).toMatchObject({ type: 'object', properties: { algorithm: { enum: ['sha256', 'sha512', 'sha1'] } } });
    expect(hmac.config.parse({})).toMatchObject({
      header: 'x-signature',
      algorithm: 'sha256',
      encoding: 'hex',
      prefix: '',
      signed: 'body',
      event_type: 'webhook.received',
    });
  });

  it('keeps a supplied secret and makes a 32-byte hex one otherwise', async () => {
    const cfg = hmac.config.parse({});
    expect((await hmac.provision(cfg, 'mine')).secrets).toEqual(['mine']);
    expect((await hmac.provision(cfg)).secrets[0]).toMatch(/^[0-9a-f]{64}$/);
  });
});
