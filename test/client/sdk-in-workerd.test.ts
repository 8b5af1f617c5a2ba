/**
 * @switchyard/client inside workerd, the runtime a Worker producer or receiver runs in: the producer
 * sends through a fetch that calls the Switchyard Worker directly (as a service binding would), the
 * management client reads back, and v1 and v1a signatures made here verify here. The Node-side
 * suites (test/node/client-*.test.ts) cover retries, the flaky network and the bundle.
 */
import { exports } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { createManagementClient, createProducer, signWebhook, SwitchyardError, verifyWebhook } from '../../packages/client/src/index.ts';
import { newEd25519Secret } from '../../src/plugins/kit/signing';
import { adminToken, BASE, createSource } from '../fixtures/api';

const binding = (input: string | Request, init?: RequestInit) => exports.default.fetch(new Request(input, init));

describe('@switchyard/client in workerd', () => {
  it('sends events to the Worker, deduplicates a resend and reads them back with the management client', async () => {
    const source = await createSource();
    const producer = createProducer({ ingestUrl: `${BASE}/v1/ingest/${source.sourceId}`, secret: source.secret, fetch: binding });
    const first = await producer.send({ type: 'orders.created', id: 'w-1', data: { amount: 1 } });
    await expect(producer.send({ type: 'orders.created', id: 'w-1', data: { amount: 1 } })).resolves.toEqual({ ...first, duplicate: true });
    const { results } = await producer.sendBatch([{ type: 'orders.created', data: { amount: 2 } }, { type: 'nodots' }]);
    expect(results.map((r) => r.status)).toEqual([202, 422]);
    await expect(producer.send({ type: 'orders.created', id: 'w-1', data: { amount: 9 } })).rejects.toSatisfy(
      (error) => error instanceof SwitchyardError && error.code === 'idempotency_conflict' && error.attempts === 1,
    );

    const api = createManagementClient({ baseUrl: BASE, token: await adminToken(), fetch: (request) => exports.default.fetch(request) });
    await expect
      .poll(
        async () => {
          const { data } = await api.GET('/v1/tenants/{tenantId}/events', { params: { path: { tenantId: source.tenantId } } });
          return data?.data.map((e) => e.ce_id);
        },
        { timeout: 10_000 },
      )
      .toEqual(['w-1', expect.any(String)]);
  });

  it('signs and verifies v1 and v1a (Ed25519) with WebCrypto as workerd provides it', async () => {
    const body = JSON.stringify({ specversion: '1.0', id: 'x', source: 's', type: 'orders.created', data: {} });
    const ed25519 = await newEd25519Secret();
    const headers = await signWebhook({ id: 'msg_1', body, secrets: [ed25519.secret, 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'] });
    expect(headers['webhook-signature']).toMatch(/^v1a,\S+ v1,\S+$/);
    await expect(verifyWebhook({ secrets: ed25519.publicKey, headers: new Headers(headers), body })).resolves.toMatchObject({ id: 'x' });
    await expect(verifyWebhook({ secrets: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', headers, body })).resolves.toMatchObject({ id: 'x' });
  });
});
