import { describe, expect, it } from 'vitest';
import { toBase64 } from '../../src/lib/encoding';
import { api, call, createSource, ingest, makeEvent, signedHeaders } from '../fixtures/api';

/** Just under the 1 MiB body cap: a valid structured CloudEvent whose data is padding. */
function largeEvent(): string {
  const event = JSON.stringify(makeEvent({ data: { pad: '' } }));
  return event.replace('"pad":""', `"pad":"${'a'.repeat(1024 * 1024 - event.length - 16)}"`);
}

describe('signature headers cannot stall the runtime', () => {
  it('answers 401 invalid_signature to 8,000 signatures over a 1 MiB body, even with the valid one among them', async () => {
    const source = await createSource();
    const body = largeEvent();
    const signed = await signedHeaders(source.secret, body);
    const flood = [...Array<string>(8000).fill(`v1,${toBase64(new Uint8Array(32).fill(7))}`), signed['webhook-signature']].join(' ');
    const res = await call(`/v1/ingest/${source.sourceId}`, {
      method: 'POST',
      headers: { 'content-type': 'application/cloudevents+json', ...signed, 'webhook-signature': flood },
      body,
    });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ code: 'invalid_signature', detail: expect.stringContaining('at most 4096') });
    // the same request with its one signature is accepted
    const ok = await call(`/v1/ingest/${source.sourceId}`, { method: 'POST', headers: { 'content-type': 'application/cloudevents+json', ...signed }, body });
    expect(ok.status).toBe(202);
  });
});

describe('secrets kept alive by repeated rotations', () => {
  it('verifies against the five newest secrets only, however often the source was rotated within the grace period', async () => {
    const source = await createSource();
    const secrets = [source.secret];
    for (let i = 0; i < 6; i++) {
      const rotated = await api<{ secret: string }>('POST', `/v1/tenants/${source.tenantId}/sources/${source.sourceId}/rotate-secret`, { grace_seconds: 3600 });
      expect(rotated.status).toBe(200);
      secrets.push(rotated.body.secret);
    }
    const send = (secret: string) => ingest({ ...source, secret }, makeEvent());
    // seven secrets are within their grace period; each costs an HMAC over the body, so only five are tried
    expect((await send(secrets[0]!)).status).toBe(401);
    expect((await send(secrets[1]!)).status).toBe(401);
    expect((await send(secrets[2]!)).status).toBe(202);
    expect((await send(secrets[6]!)).status).toBe(202);
  });
});
