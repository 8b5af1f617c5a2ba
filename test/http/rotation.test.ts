import { describe, expect, it } from 'vitest';
import { signV1 } from '../../src/plugins/kit/signing';
import { utf8 } from '../../src/lib/encoding';
import { api, createSource, eventually, ingest, makeEvent, type TestSource } from '../fixtures/api';
import { behave, receiverPath, waitForRequests, type Received } from '../fixtures/receiver';

type Rotated = { id: string; secret: string | null; public_key: string | null; previous_secret_expires_at: string | null };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function rotate(path: string, body: Record<string, unknown>): Promise<Rotated> {
  const res = await api<Rotated>('POST', path, body);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}

/** Whether one of the v1 entries of the delivery's webhook-signature was made with `secret`. */
async function signedWith(request: Received, secret: string): Promise<boolean> {
  const id = request.headers['webhook-id']!;
  const timestamp = Number(request.headers['webhook-timestamp']);
  const expected = await signV1(secret, id, timestamp, utf8(request.body));
  return (request.headers['webhook-signature'] ?? '').split(' ').includes(expected);
}

describe('source secret rotation', () => {
  it('accepts the old and the new secret throughout the grace period and only the new one after it', async () => {
    const old = await createSource();
    // the source is now cached in this isolate with its old secret only
    expect((await ingest(old, makeEvent())).status).toBe(202);
    const rotated = await rotate(`/v1/tenants/${old.tenantId}/sources/${old.sourceId}/rotate-secret`, { grace_seconds: 3 });
    expect(rotated.secret).toMatch(/^whsec_/);
    expect(rotated.secret).not.toBe(old.secret);
    const fresh: TestSource = { ...old, secret: rotated.secret! };
    const graceEnds = Date.parse(rotated.previous_secret_expires_at!);
    expect(graceEnds).toBeGreaterThan(Date.now());

    const statuses: number[] = [];
    while (Date.now() < graceEnds - 600) {
      statuses.push((await ingest(fresh, makeEvent())).status, (await ingest(old, makeEvent())).status);
      await sleep(100);
    }
    expect(statuses.length).toBeGreaterThanOrEqual(8);
    expect(new Set(statuses)).toEqual(new Set([202]));

    await sleep(graceEnds - Date.now() + 300);
    const late = await ingest(old, makeEvent());
    expect(late.status).toBe(401);
    expect(await late.json()).toMatchObject({ code: 'invalid_signature' });
    expect((await ingest(fresh, makeEvent())).status).toBe(202);
  });

  it('shows the new secret only in the rotation answer and records the rotation in the audit log', async () => {
    const source = await createSource();
    const rotated = await rotate(`/v1/tenants/${source.tenantId}/sources/${source.sourceId}/rotate-secret`, {});
    expect(Date.parse(rotated.previous_secret_expires_at!) - Date.now()).toBeGreaterThan(86_000_000);
    for (const path of [
      `/v1/tenants/${source.tenantId}/sources`,
      `/v1/tenants/${source.tenantId}/sources/${source.sourceId}`,
      `/v1/tenants/${source.tenantId}/audit-log`,
    ]) {
      const text = JSON.stringify((await api('GET', path)).body);
      expect(text).not.toContain(rotated.secret!);
      expect(text).not.toContain(source.secret);
    }
    const audit = await api<{ data: { action: string; target: string; details: Record<string, unknown> }[] }>(
      'GET',
      `/v1/tenants/${source.tenantId}/audit-log?action=source.secret_rotated`,
    );
    expect(audit.body.data).toEqual([
      expect.objectContaining({ action: 'source.secret_rotated', target: source.sourceId, details: { grace_seconds: 86_400 } }),
    ]);
  });

  it('takes a secret the caller brings where the verifier allows it, ends the old one at once with grace 0', async () => {
    const tenant = (await createSource()).tenantId;
    const hmac = await api<{ id: string; secret: string }>('POST', `/v1/tenants/${tenant}/sources`, {
      name: 'hmac',
      verifier: { type: 'hmac', config: {}, secret: 'first-secret-0123' },
    });
    expect(hmac.status).toBe(201);
    const rotated = await rotate(`/v1/tenants/${tenant}/sources/${hmac.body.id}/rotate-secret`, { secret: 'second-secret-4567', grace_seconds: 0 });
    expect(rotated.secret).toBe('second-secret-4567');
    expect(Date.parse(rotated.previous_secret_expires_at!)).toBeLessThanOrEqual(Date.now());
  });

  it('takes a brought whsec_ secret, refuses one the verifier cannot use, sources without a shared secret, and unknown sources', async () => {
    const source = await createSource();
    const malformed = await api('POST', `/v1/tenants/${source.tenantId}/sources/${source.sourceId}/rotate-secret`, { secret: 'whsec_' + btoa('too short') });
    expect(malformed).toMatchObject({ status: 422, body: { code: 'secret_not_accepted' } });
    expect((await ingest(source, makeEvent())).status).toBe(202);
    const secret = 'whsec_' + btoa('0123456789abcdef0123456789abcdef');
    const brought = await api('POST', `/v1/tenants/${source.tenantId}/sources/${source.sourceId}/rotate-secret`, { secret });
    expect(brought).toMatchObject({ status: 200, body: { secret } });
    expect((await ingest({ ...source, secret }, makeEvent())).status).toBe(202);

    const jws = await api<{ id: string }>('POST', `/v1/tenants/${source.tenantId}/sources`, {
      name: 'jws',
      verifier: { type: 'jws', config: { jwks_url: 'https://example.com/.well-known/jwks.json' } },
    });
    expect(jws.status).toBe(201);
    expect((await api('POST', `/v1/tenants/${source.tenantId}/sources/${jws.body.id}/rotate-secret`, {})).body).toMatchObject({ code: 'rotation_unsupported' });
    expect((await api('POST', `/v1/tenants/${source.tenantId}/sources/src_nope/rotate-secret`, {})).body).toMatchObject({ code: 'source_not_found' });
  });
});

describe('subscription secret rotation', () => {
  it('signs every delivery with the old and the new secret during the grace period, then with the new one only', async () => {
    const source = await createSource();
    const { path, url } = receiverPath();
    const sub = await api<{ id: string; secret: string }>('POST', `/v1/tenants/${source.tenantId}/subscriptions`, {
      types: ['orders.*'],
      action: { type: 'webhook', config: { url } },
    });
    // the receiver keeps verifying with the old secret, as a consumer that has not switched yet
    await behave(path, { secret: sub.body.secret });
    const rotated = await rotate(`/v1/tenants/${source.tenantId}/subscriptions/${sub.body.id}/rotate-secret`, { grace_seconds: 4 });
    expect(rotated.secret).toMatch(/^whsec_/);
    expect(rotated.public_key).toBeNull();
    const graceEnds = Date.parse(rotated.previous_secret_expires_at!);

    const during: string[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await ingest(source, makeEvent());
      expect(res.status).toBe(202);
      during.push((await res.json<{ id: string }>()).id);
    }
    const requests = await waitForRequests(path, during.length);
    expect(Date.now()).toBeLessThan(graceEnds);
    for (const request of requests) {
      expect(request.headers['webhook-signature']?.split(' ')).toHaveLength(2);
      expect(request.verified).toBe(true);
      expect(await signedWith(request, sub.body.secret)).toBe(true);
      expect(await signedWith(request, rotated.secret!)).toBe(true);
    }
    for (const eventId of during) {
      const delivered = await eventually(
        async () =>
          (await api<{ data: { status: string }[] }>('GET', `/v1/tenants/${source.tenantId}/deliveries?event_id=${eventId}`)).body.data[0]?.status ===
          'delivered',
      );
      expect(delivered).toBe(true);
    }

    await sleep(graceEnds - Date.now() + 300);
    expect((await ingest(source, makeEvent())).status).toBe(202);
    const after = (await waitForRequests(path, during.length + 1)).at(-1)!;
    expect(after.headers['webhook-signature']?.split(' ')).toHaveLength(1);
    expect(after.verified).toBe(false);
    expect(await signedWith(after, rotated.secret!)).toBe(true);
  });

  it('rotates an Ed25519 (v1a) subscription to a new key pair', async () => {
    const source = await createSource();
    const { path, url } = receiverPath();
    const sub = await api<{ id: string; public_key: string }>('POST', `/v1/tenants/${source.tenantId}/subscriptions`, {
      types: ['orders.*'],
      action: { type: 'webhook', config: { url } },
      signing: 'v1a',
    });
    const rotated = await rotate(`/v1/tenants/${source.tenantId}/subscriptions/${sub.body.id}/rotate-secret`, {});
    expect(rotated.secret).toBeNull();
    expect(rotated.public_key).toMatch(/^whpk_/);
    expect(rotated.public_key).not.toBe(sub.body.public_key);
    await behave(path, { secret: rotated.public_key! });
    expect((await ingest(source, makeEvent())).status).toBe(202);
    const [request] = await waitForRequests(path, 1);
    expect(request!.headers['webhook-signature']?.split(' ').map((s) => s.split(',')[0])).toEqual(['v1a', 'v1a']);
    expect(request!.verified).toBe(true);
  });

  it('answers 404 for an unknown subscription', async () => {
    const source = await createSource();
    expect((await api('POST', `/v1/tenants/${source.tenantId}/subscriptions/sub_nope/rotate-secret`, {})).body).toMatchObject({
      code: 'subscription_not_found',
    });
  });
});
