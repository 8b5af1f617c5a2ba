import { describe, expect, it } from 'vitest';
import { api, call, createSource, eventually, ingest, makeEvent, signedHeaders, withTestDb } from '../fixtures/api';

type Accepted = { id: string; sequence: number; duplicate: boolean };

describe('POST /v1/ingest/{sourceId}', () => {
  it('accepts a signed CloudEvent with 202 and a sequence, and lists it once stored', async () => {
    const source = await createSource();
    const event = makeEvent();
    const res = await ingest(source, event);
    expect(res.status).toBe(202);
    const body = await res.json<Accepted>();
    expect(body).toEqual({ id: expect.stringMatching(/^evt_/), sequence: 1, duplicate: false });

    const stored = await eventually(async () => {
      const got = await api('GET', `/v1/tenants/${source.tenantId}/events/${body.id}`);
      return got.status === 200 ? got.body : null;
    });
    expect(stored).toMatchObject({ id: body.id, ce_id: event.id, sequence: 1, type: 'orders.created', data: { amount: 42, currency: 'EUR' } });
  });

  it('accepts a batch and answers one result per event in input order', async () => {
    const source = await createSource();
    const events = [makeEvent(), makeEvent({ type: 'orders.paid' }), makeEvent()];
    const res = await ingest(source, events, 'application/cloudevents-batch+json');
    expect(res.status).toBe(202);
    const { results } = await res.json<{ results: (Accepted & { status: number })[] }>();
    expect(results.map((r) => [r.status, r.sequence, r.duplicate])).toEqual([
      [202, 1, false],
      [202, 2, false],
      [202, 3, false],
    ]);
  });

  it('accepts the valid events of a batch and reports the invalid ones per item', async () => {
    const source = await createSource();
    const events = [makeEvent(), { specversion: '1.0', id: 'x' }, makeEvent({ type: 'NotDotted' }), makeEvent()];
    const res = await ingest(source, events, 'application/cloudevents-batch+json');
    expect(res.status).toBe(202);
    const { results } = await res.json<{ results: Record<string, unknown>[] }>();
    expect(results[0]).toMatchObject({ status: 202, sequence: 1 });
    expect(results[1]).toMatchObject({ status: 422, code: 'invalid_event' });
    expect(results[1]!.errors).toEqual(
      expect.arrayContaining([expect.objectContaining({ pointer: '/source' }), expect.objectContaining({ pointer: '/type' })]),
    );
    expect(results[2]).toMatchObject({ status: 422, code: 'invalid_event', errors: [{ pointer: '/type', detail: expect.stringContaining('dot-notation') }] });
    expect(results[3]).toMatchObject({ status: 202, sequence: 2 });
  });

  it('accepts binary-mode CloudEvents, taking attributes from ce-* headers and data from the body', async () => {
    const source = await createSource();
    const body = JSON.stringify({ sku: 'A-1', qty: 3 });
    const res = await call(`/v1/ingest/${source.sourceId}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'ce-specversion': '1.0',
        'ce-id': 'bin-1',
        'ce-source': '/warehouse',
        'ce-type': 'stock.reserved',
        'ce-subject': 'sku/A-1',
        'ce-partitionkey': 'A-1',
        // the signed webhook-id is the event id: the ce-* headers themselves are not signed
        ...(await signedHeaders(source.secret, body, { id: 'bin-1' })),
      },
      body,
    });
    expect(res.status).toBe(202);
    const { id } = await res.json<Accepted>();
    const stored = await eventually(async () => {
      const got = await api('GET', `/v1/tenants/${source.tenantId}/events/${id}`);
      return got.status === 200 ? got.body : null;
    });
    expect(stored).toMatchObject({
      ce_id: 'bin-1',
      type: 'stock.reserved',
      subject: 'sku/A-1',
      partitionkey: 'A-1',
      datacontenttype: 'application/json',
      data: { sku: 'A-1', qty: 3 },
    });
  });

  it('stores every accepted event in Postgres with its tenant, sequence and hash', async () => {
    const source = await createSource();
    const events = Array.from({ length: 25 }, (_, i) => makeEvent({ subject: `order/${i}`, correlationid: 'corr-1' }));
    expect((await ingest(source, events, 'application/cloudevents-batch+json')).status).toBe(202);
    const rows = await eventually(async () => {
      const result = await withTestDb((db) =>
        db.query<{ sequence: string; ce_id: string; subject: string; correlation_id: string; sha256: string }>(
          'SELECT sequence, ce_id, subject, correlation_id, sha256 FROM events WHERE tenant_id = $1 ORDER BY sequence',
          [source.tenantId],
        ),
      );
      return result.rows.length === 25 ? result.rows : null;
    });
    expect(rows.map((r) => Number(r.sequence))).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    expect(rows.map((r) => r.ce_id)).toEqual(events.map((e) => e.id));
    expect(rows.every((r) => r.correlation_id === 'corr-1' && /^[0-9a-f]{64}$/.test(r.sha256))).toBe(true);
  });
});
