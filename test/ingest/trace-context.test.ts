import { describe, expect, it } from 'vitest';
import { parseTraceparent } from '../../src/lib/trace-context';
import { api, createSource, eventually, ingest, makeEvent, type TestSource } from '../fixtures/api';
import { receiverPath, waitForRequests } from '../fixtures/receiver';

type Stored = { traceparent?: string; tracestate?: string };
const PRODUCER = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

async function subscribed(): Promise<{ source: TestSource; path: string }> {
  const source = await createSource();
  const { path, url } = receiverPath();
  const sub = await api('POST', `/v1/tenants/${source.tenantId}/subscriptions`, { types: ['orders.*'], action: { type: 'webhook', config: { url } } });
  expect(sub.status).toBe(201);
  return { source, path };
}

async function stored(source: TestSource, id: string): Promise<Stored> {
  return eventually(async () => {
    const read = await api<Stored>('GET', `/v1/tenants/${source.tenantId}/events/${id}`);
    return read.status === 200 && read.body;
  });
}

describe('W3C trace context from producer to receiver', () => {
  it('keeps the traceparent header with the event and sends the receiver a child span of it', async () => {
    const { source, path } = await subscribed();
    const res = await ingest(source, makeEvent(), 'application/cloudevents+json', { traceparent: PRODUCER, tracestate: 'vendor=abc' });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    expect(await stored(source, id)).toMatchObject({ traceparent: PRODUCER, tracestate: 'vendor=abc' });
    const [delivery] = await waitForRequests(path, 1);
    const child = parseTraceparent(delivery!.headers.traceparent);
    expect(child).toMatchObject({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', flags: '01' });
    expect(child!.spanId).not.toBe('00f067aa0ba902b7');
    expect(delivery!.headers.tracestate).toBe('vendor=abc');
    expect(JSON.parse(delivery!.body)).toMatchObject({ traceparent: PRODUCER });
  });

  it('takes the CloudEvents traceparent attribute over the header', async () => {
    const { source, path } = await subscribed();
    const own = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00';
    const res = await ingest(source, makeEvent({ traceparent: own }), 'application/cloudevents+json', { traceparent: PRODUCER });
    const { id } = (await res.json()) as { id: string };
    expect((await stored(source, id)).traceparent).toBe(own);
    const [delivery] = await waitForRequests(path, 1);
    expect(parseTraceparent(delivery!.headers.traceparent)).toMatchObject({ traceId: '0af7651916cd43dd8448eb211c80319c', flags: '00' });
  });

  it('starts a trace when none arrives (one per request), and ignores a malformed header', async () => {
    const { source, path } = await subscribed();
    const batch = await ingest(source, [makeEvent(), makeEvent()], 'application/cloudevents-batch+json', { traceparent: '00-zzz-1-01' });
    const ids = ((await batch.json()) as { results: { id: string }[] }).results.map((r) => r.id);
    const traces = await Promise.all(ids.map(async (id) => parseTraceparent((await stored(source, id)).traceparent)));
    expect(traces[0]).not.toBeNull();
    expect(traces[1]!.traceId).toBe(traces[0]!.traceId);
    const deliveries = await waitForRequests(path, 2);
    for (const d of deliveries) expect(parseTraceparent(d.headers.traceparent)!.traceId).toBe(traces[0]!.traceId);
  });

  it('refuses a malformed traceparent attribute in the event with 422 naming it', async () => {
    const source = await createSource();
    const res = await ingest(source, makeEvent({ traceparent: '00-abc-def-01' }));
    expect(res.status).toBe(422);
    expect(await res.json()).toMatchObject({ code: 'invalid_event', errors: [{ pointer: '/traceparent' }] });
  });

  it('reads a traceparent of a later version as the specification says, and refuses what no version allows', () => {
    const ids = '4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7';
    const parent = { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7' };
    // a later version: version 00's fields, then the end or a dash; of the flags only the sampled bit
    expect(parseTraceparent(`01-${ids}-09`)).toEqual({ ...parent, flags: '01' });
    expect(parseTraceparent(`cc-${ids}-08-what-the-future-brings`)).toEqual({ ...parent, flags: '00' });
    for (const invalid of [
      `00-${ids}-01-extra`, // version 00 is exactly 55 characters
      `00-${ids}-01 `,
      `ff-${ids}-01`, // ff is no version
      `01-${ids}-01x`, // a later version's flags are followed by the end or a dash
      `01-${ids}-0`,
      `0-${ids}-01`,
      `00-${ids.toUpperCase()}-01`, // lowercase only
      `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`,
      `01-4bf92f3577b34da6a3ce929d0e0e4736-${'0'.repeat(16)}-01`,
      `00_${ids}-01`,
    ])
      expect(parseTraceparent(invalid), invalid).toBeNull();
  });

  it('joins a producer on a later version: the event is kept as sent, the receiver gets a version-00 child of it', async () => {
    const { source, path } = await subscribed();
    const later = '02-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-0123456789';
    const res = await ingest(source, makeEvent({ traceparent: later }));
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    expect((await stored(source, id)).traceparent).toBe(later);
    // on the header, it stands for the request's events as a version 00 (the only one Switchyard writes)
    const viaHeader = await ingest(source, makeEvent(), 'application/cloudevents+json', { traceparent: later });
    const header = (await viaHeader.json()) as { id: string };
    expect((await stored(source, header.id)).traceparent).toBe('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
    for (const delivery of await waitForRequests(path, 2)) {
      expect(delivery.headers.traceparent).toMatch(/^00-0af7651916cd43dd8448eb211c80319c-(?!b7ad6b7169203331)[0-9a-f]{16}-01$/);
    }
  });

  it('still answers duplicate: true to a retry that arrives on a new trace', async () => {
    const source = await createSource();
    const event = makeEvent();
    const first = (await (await ingest(source, event, 'application/cloudevents+json', { traceparent: PRODUCER })).json()) as { sequence: number };
    const again = await ingest(source, event, 'application/cloudevents+json', { traceparent: '00-11111111111111111111111111111111-2222222222222222-01' });
    expect(await again.json()).toMatchObject({ duplicate: true, sequence: first.sequence });
  });
});
