import { describe, expect, it } from 'vitest';
import { api, createSource, eventually, ingest, makeEvent } from './fixtures/api';

describe('POST /v1/ingest/{sourceId}', () => {
  it('accepts a signed CloudEvent with 202 and a sequence, and lists it once stored', async () => {
    const source = await createSource();
    const event = makeEvent();
    const res = await ingest(source, event);
    expect(res.status).toBe(202);
    const body = await res.json<{ id: string; sequence: number; duplicate: boolean }>();
    expect(body).toEqual({ id: expect.stringMatching(/^evt_/), sequence: 1, duplicate: false });

    const stored = await eventually(async () => {
      const got = await api<Record<string, unknown>>('GET', `/v1/tenants/${source.tenantId}/events/${body.id}`);
      return got.status === 200 ? got.body : null;
    });
    expect(stored).toMatchObject({ id: body.id, ce_id: event.id, sequence: 1, type: 'orders.created', data: { amount: 42, currency: 'EUR' } });
  });
});
