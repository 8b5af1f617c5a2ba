import { describe, expect, it } from 'vitest';
import { api, call, createSource, createTenant, eventually, ingest, makeEvent, signedHeaders } from '../fixtures/api';

type Problem = { status: number; code: string; errors?: { pointer: string; detail: string }[] };

describe('the switchyard. type namespace', () => {
  it('refuses a producer event typed like a system event with 422 naming /type', async () => {
    const source = await createSource();
    for (const type of ['switchyard.delivery.exhausted', 'Switchyard.subscription.disabled']) {
      const res = await ingest(source, makeEvent({ type }));
      expect(res.status).toBe(422);
      const body = (await res.json()) as Problem;
      expect(body).toMatchObject({ code: 'invalid_event', errors: [{ pointer: '/type' }] });
      expect(body.errors![0]!.detail).toContain('reserved');
    }
    const stored = await api<{ data: unknown[] }>('GET', `/v1/tenants/${source.tenantId}/events`);
    expect(stored.body.data).toHaveLength(0);
    // an event accepted after them is stored, and alone: a refused one stored late would show up before it
    const control = makeEvent();
    expect((await ingest(source, control)).status).toBe(202);
    const later = await eventually(async () => {
      const page = await api<{ data: { ce_id: string }[] }>('GET', `/v1/tenants/${source.tenantId}/events`);
      return page.body.data.length > 0 ? page.body.data : null;
    });
    expect(later.map((e) => e.ce_id)).toEqual([control.id]);
  });

  it('refuses the reserved type per item in a batch and in binary mode', async () => {
    const source = await createSource();
    const batch = await ingest(source, [makeEvent(), makeEvent({ type: 'switchyard.delivery.exhausted' })], 'application/cloudevents-batch+json');
    const results = ((await batch.json()) as { results: { status: number; code?: string }[] }).results;
    expect(results.map((r) => r.status)).toEqual([202, 422]);
    expect(results[1]).toMatchObject({ code: 'invalid_event' });

    const body = JSON.stringify({ amount: 1 });
    const id = `msg_${crypto.randomUUID()}`;
    const binary = await call(`/v1/ingest/${source.sourceId}`, {
      method: 'POST',
      body,
      headers: {
        'content-type': 'application/json',
        'ce-specversion': '1.0',
        'ce-id': id,
        'ce-source': '/shop',
        'ce-type': 'switchyard.subscription.disabled',
        ...(await signedHeaders(source.secret, body, { id })),
      },
    });
    expect(binary.status).toBe(422);
  });

  it('refuses plugin configs that would produce reserved types', async () => {
    const tenant = await createTenant();
    const setType = await api<Problem>('POST', `/v1/tenants/${tenant}/plugins`, {
      type: 'set-attributes',
      name: 'retype',
      config: { set: { type: 'switchyard.delivery.exhausted' } },
    });
    expect(setType.status).toBe(422);
    expect(JSON.stringify(setType.body)).toContain('reserved');
    const hmacType = await api<Problem>('POST', `/v1/tenants/${tenant}/sources`, {
      name: 'h',
      verifier: { type: 'hmac', secret: 'shared-secret-1234', config: { event_type: 'switchyard.fake.event' } },
    });
    expect(hmacType.status).toBe(422);
    expect(JSON.stringify(hmacType.body)).toContain('reserved');
  });
});
