import { CompactSign, exportJWK, generateKeyPair } from 'jose';
import { describe, expect, it } from 'vitest';
import { utf8 } from '../../src/lib/encoding';
import { api, call, createSource, eventually, makeEvent, signedHeaders, type TestSource } from '../fixtures/api';

type Problem = { code: string; detail: string };

/** A binary-mode request as a producer signs it, so tests can replay it with headers changed. */
async function captured(source: TestSource, id: string) {
  const body = JSON.stringify({ sku: 'A-1', qty: 3 });
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'ce-specversion': '1.0',
    'ce-id': id,
    'ce-source': '/warehouse',
    'ce-type': 'stock.reserved',
    'ce-subject': 'sku/A-1',
    ...(await signedHeaders(source.secret, body, { id })),
  };
  return (changes: Record<string, string> = {}) => call(`/v1/ingest/${source.sourceId}`, { method: 'POST', headers: { ...headers, ...changes }, body });
}

async function storedEvents(source: TestSource): Promise<{ ce_id: string; type: string; subject?: string }[]> {
  const res = await api<{ data: { ce_id: string; type: string; subject?: string }[] }>('GET', `/v1/tenants/${source.tenantId}/events`);
  return res.body.data;
}

describe('binary mode binds the event to what was signed', () => {
  it('refuses a captured request replayed with another ce-id, and answers idempotency_conflict to another ce-type or ce-subject', async () => {
    const source = await createSource();
    const replay = await captured(source, `bin-${crypto.randomUUID()}`);
    expect((await replay()).status).toBe(202);

    const newId = await replay({ 'ce-id': `forged-${crypto.randomUUID()}` });
    expect(newId.status).toBe(422);
    expect(await newId.json<Problem>()).toMatchObject({ code: 'unsigned_attributes', detail: expect.stringContaining('webhook-id') });
    const changes: Record<string, string>[] = [{ 'ce-type': 'stock.released' }, { 'ce-subject': 'sku/B-2' }, { 'ce-source': '/elsewhere' }];
    for (const changed of changes) {
      const res = await replay(changed);
      expect(res.status, JSON.stringify(changed)).toBe(422);
      expect(await res.json<Problem>()).toMatchObject({ code: 'idempotency_conflict' });
    }
    // the genuine resend is still a duplicate, and only the signed event was ever stored
    expect(await (await replay()).json()).toMatchObject({ sequence: 1, duplicate: true });
    const stored = await eventually(async () => {
      const events = await storedEvents(source);
      return events.length > 0 ? events : null;
    });
    expect(stored).toEqual([expect.objectContaining({ type: 'stock.reserved', subject: 'sku/A-1' })]);
  });

  it('refuses binary mode for a jws source, whose signature covers the body only, and accepts the same event structured', async () => {
    const { publicKey, privateKey } = await generateKeyPair('EdDSA', { extractable: true });
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'EdDSA' };
    const source = await createSource(undefined, { type: 'jws', config: { jwk } });
    const sign = async (body: string) => {
      const [header, , signature] = (await new CompactSign(utf8(body)).setProtectedHeader({ alg: 'EdDSA', kid: 'k1' }).sign(privateKey)).split('.');
      return `${header}..${signature}`;
    };
    const data = JSON.stringify({ sku: 'A-1' });
    const binary = await call(`/v1/ingest/${source.sourceId}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'ce-specversion': '1.0',
        'ce-id': 'j-1',
        'ce-source': '/w',
        'ce-type': 'stock.reserved',
        'jws-signature': await sign(data),
      },
      body: data,
    });
    expect(binary.status).toBe(422);
    expect(await binary.json<Problem>()).toMatchObject({ code: 'unsigned_attributes', detail: expect.stringContaining('(jws) signs the body only') });

    const structured = JSON.stringify(makeEvent({ id: 'j-1', type: 'stock.reserved' }));
    const res = await call(`/v1/ingest/${source.sourceId}`, {
      method: 'POST',
      headers: { 'content-type': 'application/cloudevents+json', 'jws-signature': await sign(structured) },
      body: structured,
    });
    expect(res.status).toBe(202);
  });

  it('refuses ce-* headers on an hmac source instead of silently building the event from the body', async () => {
    const source = await createSource(undefined, { type: 'hmac', secret: 'hmac-secret-0123' });
    const body = JSON.stringify({ sku: 'A-1' });
    const key = await crypto.subtle.importKey('raw', utf8(source.secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
    const mac = [...new Uint8Array(await crypto.subtle.sign('HMAC', key, utf8(body)))].map((b) => b.toString(16).padStart(2, '0')).join('');
    const send = (extra: Record<string, string>) =>
      call(`/v1/ingest/${source.sourceId}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-signature': mac, ...extra }, body });
    const binary = await send({ 'ce-specversion': '1.0', 'ce-id': 'h-1', 'ce-source': '/w', 'ce-type': 'stock.reserved' });
    expect(binary.status).toBe(422);
    expect(await binary.json<Problem>()).toMatchObject({ code: 'unsigned_attributes' });
    expect((await send({})).status).toBe(202);
  });
});
