/**
 * Span export over OTLP/HTTP against a local collector (scripts/lib/otlp-collector.ts): the bundle
 * `wrangler deploy` would upload, under workerd (scripts/lib/runtime.ts), on a scratch Postgres
 * database, with OTEL_EXPORTER_OTLP_ENDPOINT pointing at the collector. One event's journey must form
 * one tree in the event's trace: ingest → append, ingest → flush → fan-out, ingest → delivery.attempt,
 * and the receiver's traceparent must name the delivery.attempt span as its parent.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { attribute, startCollector, type CollectedSpan, type Collector } from '../../scripts/lib/otlp-collector.ts';
import type { Receiver } from '../../scripts/lib/receiver.ts';
import type { Runtime } from '../../scripts/lib/runtime.ts';
import { connectApi, createSource, createWebhookSubscription, makeEvent, send, signedIngest, type Api, type Source } from '../../scripts/lib/switchyard-api.ts';
import { startTestRuntime } from './test-runtime.ts';

interface World {
  runtime: Runtime;
  api: Api;
  receiver: Receiver;
  collector: Collector;
  source: Source;
  hookPath: string;
  subscriptionId: string;
}

const cleanups: (() => Promise<unknown>)[] = [];
let started: Promise<World> | undefined;

/** Started by the first test that needs it, not in a hook: a hook's failure would count as a skip. */
function world(): Promise<World> {
  started ??= (async () => {
    const collector = await startCollector();
    cleanups.push(() => collector.close());
    const t = await startTestRuntime('switchyard-otlp', {
      bindings: {
        OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
        OTEL_EXPORTER_OTLP_HEADERS: 'x-collector-key=s3cret%20key,x-team=ops',
        OTEL_SERVICE_NAME: 'switchyard-test',
      },
    });
    cleanups.push(() => t.close());
    const api = await connectApi(t.runtime.url, t.adminSecret);
    const source = await createSource(api, 'traced');
    const hookPath = '/hook/traced';
    const subscription = await createWebhookSubscription(api, source.tenantId, `${t.receiver.url}${hookPath}`);
    return { runtime: t.runtime, api, receiver: t.receiver, collector, source, hookPath, subscriptionId: subscription.id };
  })();
  return started;
}

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
}, 60_000);

const hex = (bytes: number) => randomBytes(bytes).toString('hex');

async function until<T>(check: () => T | undefined, describe: () => string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`condition not met in time: ${describe()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The journey's spans once all five kinds arrived for this trace and event. */
function journey(collector: Collector, traceId: string, eventId: string): Promise<Record<string, CollectedSpan>> {
  return until(
    () => {
      const spans = collector.spans.filter((s) => s.traceId === traceId);
      const ingest = spans.find((s) => s.name === 'ingest' && attribute(s, 'switchyard.event.id') === eventId);
      const flush = spans.find((s) => s.name === 'flush' && String(attribute(s, 'switchyard.event.ids')).split(',').includes(eventId));
      const attempt = spans.find((s) => s.name === 'delivery.attempt' && attribute(s, 'switchyard.event.id') === eventId);
      const append = spans.find((s) => s.name === 'append' && s.parentSpanId === ingest?.spanId);
      const fanOut = spans.find((s) => s.name === 'fan-out' && s.parentSpanId === flush?.spanId);
      return ingest && flush && attempt && append && fanOut ? { ingest, append, flush, 'fan-out': fanOut, 'delivery.attempt': attempt } : undefined;
    },
    () => `spans of the trace: ${JSON.stringify(collector.spans.filter((s) => s.traceId === traceId).map((s) => [s.name, s.spanId, s.parentSpanId]))}`,
  );
}

/** The stored event's traceparent, once the TenantLog has flushed it to Postgres. */
async function storedTraceparent(w: World, eventId: string): Promise<string> {
  for (const deadline = Date.now() + 20_000; Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 50))) {
    const res = await w.api.call<{ traceparent: string }>('GET', `/v1/tenants/${w.source.tenantId}/events/${eventId}`);
    if (res.status === 200) return res.json.traceparent;
  }
  throw new Error(`event ${eventId} was not stored in time`);
}

async function ingestOne(w: World, headers: Record<string, string>): Promise<string> {
  const request = signedIngest(w.source, [makeEvent(`otlp-${hex(6)}`, 1)], 'single');
  const sent = await send(w.runtime.url, { ...request, headers: { ...request.headers, ...headers } });
  expect(sent.status, JSON.stringify(sent.json)).toBe(202);
  return (sent.json as { id: string }).id;
}

describe('OTLP span export', () => {
  it('exports one event’s journey as a tree in the producer’s trace, whose delivery.attempt span the receiver sees as parent', async () => {
    const w = await world();
    const traceId = hex(16);
    const producerSpan = hex(8);
    const before = w.receiver.received.length;
    const eventId = await ingestOne(w, { traceparent: `00-${traceId}-${producerSpan}-01`, tracestate: 'vendor=abc' });
    const spans = await journey(w.collector, traceId, eventId);
    const [delivered] = (await w.receiver.waitFor(w.hookPath, before + 1, 20_000)).slice(before);

    expect(spans.ingest!.parentSpanId).toBe(producerSpan);
    expect(spans.append!.parentSpanId).toBe(spans.ingest!.spanId);
    expect(spans.flush!.parentSpanId).toBe(spans.ingest!.spanId);
    expect(spans['fan-out']!.parentSpanId).toBe(spans.flush!.spanId);
    expect(spans['delivery.attempt']!.parentSpanId).toBe(spans.ingest!.spanId);
    // the receiver's parent is exactly the attempt span
    expect(delivered!.headers.traceparent).toBe(`00-${traceId}-${spans['delivery.attempt']!.spanId}-01`);
    expect(delivered!.headers.tracestate).toBe('vendor=abc');
    // the stored event names the ingest span
    expect(await storedTraceparent(w, eventId)).toBe(`00-${traceId}-${spans.ingest!.spanId}-01`);

    const attempt = spans['delivery.attempt']!;
    expect({
      tenant: attribute(attempt, 'switchyard.tenant'),
      subscription: attribute(attempt, 'switchyard.subscription'),
      type: attribute(attempt, 'switchyard.event.type'),
      status: attribute(attempt, 'http.response.status_code'),
      outcome: attribute(attempt, 'switchyard.outcome'),
    }).toEqual({ tenant: w.source.tenantId, subscription: w.subscriptionId, type: 'orders.created', status: 200, outcome: 'delivered' });
    expect(attribute(spans.ingest!, 'http.response.status_code')).toBe(202);
    expect(attribute(spans.flush!, 'switchyard.event.type')).toBe('orders.created');
    for (const span of Object.values(spans)) {
      expect(span.service).toBe('switchyard-test');
      expect(span.headers['x-collector-key']).toBe('s3cret key');
      expect(BigInt(span.endTimeUnixNano) >= BigInt(span.startTimeUnixNano)).toBe(true);
    }
  }, 240_000);

  it('starts a trace whose root is the ingest span when the request carries none', async () => {
    const w = await world();
    const before = w.receiver.received.length;
    const eventId = await ingestOne(w, {});
    const [, traceId, ingestSpanId] = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(await storedTraceparent(w, eventId)) ?? [];
    const spans = await journey(w.collector, traceId!, eventId);
    const [delivered] = (await w.receiver.waitFor(w.hookPath, before + 1, 20_000)).slice(before);
    expect(spans.ingest!.spanId).toBe(ingestSpanId);
    expect(spans.ingest!.parentSpanId).toBeUndefined();
    expect(spans['delivery.attempt']!.parentSpanId).toBe(ingestSpanId);
    expect(delivered!.headers.traceparent).toBe(`00-${traceId}-${spans['delivery.attempt']!.spanId}-01`);
  }, 240_000);

  it('still accepts and delivers while the collector refuses every export', async () => {
    const w = await world();
    w.collector.failWith = 503;
    try {
      const before = w.receiver.received.length;
      const refusedBefore = w.collector.refused;
      const eventId = await ingestOne(w, {});
      const [delivered] = (await w.receiver.waitFor(w.hookPath, before + 1, 20_000)).slice(before);
      expect(JSON.parse(delivered!.body)).toMatchObject({ id: expect.any(String) });
      expect(await storedTraceparent(w, eventId)).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
      await until(
        () => (w.collector.refused > refusedBefore ? true : undefined),
        () => 'no export reached the collector',
      );
    } finally {
      w.collector.failWith = null;
    }
  }, 240_000);
});
