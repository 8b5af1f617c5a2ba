/**
 * @switchyard/client against a real Switchyard: the bundle `wrangler deploy` would upload, under
 * workerd (scripts/lib/runtime.ts), on a scratch Postgres database. The producer sends through a
 * seeded flaky proxy (flaky-proxy.ts) and every event must be stored exactly once; 4xx answers are
 * never retried; `verifyWebhook` accepts the deliveries the runtime signs (v1 HMAC, v1a Ed25519, both
 * secrets of a rotation). The management client does all the set-up and the reading back.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import {
  batcher,
  createManagementClient,
  createProducer,
  type ManagementClient,
  type SendResult,
  type StreamMessage,
  streamEvents,
  SwitchyardError,
  verifyWebhook,
  WebhookVerificationError,
} from '../../packages/client/src/index.ts';
import type { Receiver } from '../../scripts/lib/receiver.ts';
import type { Runtime } from '../../scripts/lib/runtime.ts';
import { FAULTS, startFlakyProxy } from './flaky-proxy.ts';
import { startTestRuntime, type TestRuntime } from './test-runtime.ts';

interface World {
  runtime: Runtime;
  api: ManagementClient;
  token: string;
  receiver: Receiver;
}

/** What a test starts beside the runtime (a flaky proxy), stopped first. */
const cleanups: (() => Promise<unknown>)[] = [];
let started: Promise<TestRuntime> | undefined;

/** Started by the first test that needs it, not in a hook: a hook's failure would count as a skip. */
async function world(): Promise<World> {
  const t = await (started ??= startTestRuntime('switchyard-client'));
  return { runtime: t.runtime, api: createManagementClient({ baseUrl: t.runtime.url, token: t.token }), token: t.token, receiver: t.receiver };
}

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
  await (await started?.catch(() => undefined))?.close();
}, 60_000);

/** The data of an openapi-fetch answer, or a failure naming the problem. */
function must<T>(answer: { data?: T; error?: unknown; response: Response }): T {
  if (answer.data === undefined) throw new Error(`${answer.response.status}: ${JSON.stringify(answer.error)}`);
  return answer.data;
}

async function tenantWithSource(api: ManagementClient, name: string) {
  const tenant = must(await api.POST('/v1/tenants', { body: { name } }));
  const source = must(await api.POST('/v1/tenants/{tenantId}/sources', { params: { path: { tenantId: tenant.id } }, body: { name: `${name} source` } }));
  return { tenantId: tenant.id, ingestUrl: source.ingest_url, sourceId: source.id, secret: source.secret! };
}

async function storedEvents(api: ManagementClient, tenantId: string) {
  const events = [];
  let cursor: string | undefined;
  do {
    const page = must(await api.GET('/v1/tenants/{tenantId}/events', { params: { path: { tenantId }, query: { limit: 500, cursor } } }));
    events.push(...page.data);
    cursor = page.next_cursor ?? undefined;
  } while (cursor);
  return events;
}

describe('@switchyard/client against a running Switchyard', () => {
  it('stores every event exactly once when sent through a proxy that drops connections and answers 503 and 429', { timeout: 240_000 }, async () => {
    const { api, runtime } = await world();
    const source = await tenantWithSource(api, 'flaky');
    const proxy = await startFlakyProxy({ target: runtime.url, seed: 14, faultRate: 0.45, maxFaultsInARow: 3, maxSlowFaults: 2, holdMs: 2500 });
    cleanups.push(() => proxy.close());
    const producer = createProducer<{ 'order.created': { n: number } }>({
      ingestUrl: source.ingestUrl.replace(runtime.url, proxy.url),
      secret: source.secret,
      retries: 4,
      timeoutMs: 2000,
      backoffMs: 20,
      maxDelayMs: 2000,
    });
    const event = (n: number) => ({ type: 'order.created' as const, data: { n } });

    // 60 single events, four at a time
    const singles: SendResult[] = [];
    for (let n = 0; n < 60; n += 4) singles.push(...(await Promise.all([0, 1, 2, 3].map((i) => producer.send(event(n + i))))));
    // 5 batches of 20, two at a time
    const batches = await Promise.all([0, 1, 2, 3, 4].map((b) => producer.sendBatch(Array.from({ length: 20 }, (_, i) => event(60 + b * 20 + i)))));
    // 40 through a batcher of 8
    const buffered = batcher(producer, { maxEvents: 8, maxWaitMs: 50 });
    for (let n = 160; n < 200; n++) buffered.add(event(n));
    await buffered.close();

    const results = [...singles, ...batches.flatMap((b) => b.results)];
    expect(results.every((r) => 'sequence' in r)).toBe(true);
    // a retry of a request that had been stored was answered as a duplicate, not stored again
    expect(results.some((r) => 'duplicate' in r && r.duplicate)).toBe(true);
    expect(new Set(proxy.log.map((entry) => entry.fault))).toEqual(new Set([...FAULTS, 'pass']));
    for (const [i, entry] of proxy.log.entries()) {
      if (entry.fault !== 'status_429') continue;
      const next = proxy.log.slice(i + 1).find((later) => later.webhookId === entry.webhookId);
      expect(next!.at - entry.at, 'waited for Retry-After: 1').toBeGreaterThanOrEqual(990);
    }

    // exactly once: 200 stored events, one per producer id, carrying every n once
    await expect.poll(async () => (await storedEvents(api, source.tenantId)).length, { timeout: 60_000, interval: 250 }).toBeGreaterThanOrEqual(200);
    const stored = await storedEvents(api, source.tenantId);
    expect(stored).toHaveLength(200);
    expect(new Set(stored.map((e) => e.ce_id)).size).toBe(200);
    expect(stored.map((e) => (e.data as { n: number }).n).sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, n) => n));
    const acceptedSingles = singles.flatMap((r) => ('id' in r ? [r.id] : []));
    expect(stored.map((e) => e.id)).toEqual(expect.arrayContaining(acceptedSingles));
  });

  it('sends a refused event once and throws its problem, without retrying', { timeout: 120_000 }, async () => {
    const { api } = await world();
    const source = await tenantWithSource(api, 'refusals');
    let requests = 0;
    const counting = (input: string, init: RequestInit) => {
      requests++;
      return fetch(input, init);
    };
    const producer = createProducer({ ingestUrl: source.ingestUrl, secret: source.secret, fetch: counting, backoffMs: 1 });
    const reserved = await producer.send({ type: 'switchyard.delivery.exhausted', data: {} }).catch((e: unknown) => e);
    expect(reserved).toBeInstanceOf(SwitchyardError);
    expect(reserved).toMatchObject({ status: 422, code: 'invalid_event', attempts: 1 });
    expect(requests).toBe(1);

    const wrongSecret = createProducer({ ingestUrl: source.ingestUrl, secret: `whsec_${randomBytes(24).toString('base64')}`, fetch: counting });
    await expect(wrongSecret.send({ type: 'order.created' })).rejects.toMatchObject({ status: 401, code: 'invalid_signature', attempts: 1 });
    expect(requests).toBe(2);

    // in a batch, a refused event is one result among the accepted ones
    const { results } = await producer.sendBatch([{ type: 'order.created' }, { type: 'not-dotted' }, { type: 'order.created' }]);
    expect(results.map((r) => r.status)).toEqual([202, 422, 202]);
    expect(results[1]).toMatchObject({ code: 'invalid_event' });
    expect(requests).toBe(3);
  });

  it('verifies the deliveries the runtime signs: v1, v1a, and both secrets of a rotation', { timeout: 120_000 }, async () => {
    const { api, receiver } = await world();
    const source = await tenantWithSource(api, 'receivers');
    const path = { tenantId: source.tenantId };
    const subscribe = async (hook: string, signing: 'v1' | 'v1a') =>
      must(
        await api.POST('/v1/tenants/{tenantId}/subscriptions', {
          params: { path },
          body: { types: ['order.*'], action: { type: 'webhook', config: { url: `${receiver.url}${hook}` } }, signing },
        }),
      );
    const hmac = await subscribe('/client/v1', 'v1');
    const ed25519 = await subscribe('/client/v1a', 'v1a');
    expect(hmac.secret).toMatch(/^whsec_/);
    expect(ed25519.public_key).toMatch(/^whpk_/);

    const producer = createProducer<{ 'order.created': { amount: number } }>({ ingestUrl: source.ingestUrl, secret: source.secret });
    await producer.send({ type: 'order.created', id: 'order-1', data: { amount: 42 } });
    const [v1] = await receiver.waitFor('/client/v1', 1, 30_000);
    const [v1a] = await receiver.waitFor('/client/v1a', 1, 30_000);
    for (const [delivery, secret] of [
      [v1!, hmac.secret!],
      [v1a!, ed25519.public_key!],
    ] as const) {
      const event = await verifyWebhook<{ 'order.created': { amount: number } }>({ secrets: secret, headers: delivery.headers, body: delivery.body });
      // the CloudEvent as the producer sent it (its own id), plus the trace context the runtime keeps
      expect(event).toMatchObject({ specversion: '1.0', type: 'order.created', id: 'order-1', source: 'switchyard/client', data: { amount: 42 } });
      expect(event.data.amount + 1).toBe(43);
    }
    const stranger = await verifyWebhook({ secrets: `whsec_${randomBytes(24).toString('base64')}`, headers: v1!.headers, body: v1!.body }).catch(
      (e: unknown) => e,
    );
    expect(stranger).toBeInstanceOf(WebhookVerificationError);
    expect((stranger as WebhookVerificationError).reason).toBe('no_matching_signature');

    // during the grace period a delivery carries both signatures: a receiver with either secret accepts it
    const rotated = must(
      await api.POST('/v1/tenants/{tenantId}/subscriptions/{subscriptionId}/rotate-secret', {
        params: { path: { ...path, subscriptionId: hmac.id } },
        body: { grace_seconds: 3600 },
      }),
    );
    await producer.send({ type: 'order.created', id: 'order-2', data: { amount: 7 } });
    const [, second] = await receiver.waitFor('/client/v1', 2, 30_000);
    expect(second!.headers['webhook-signature']!.split(' ')).toHaveLength(2);
    for (const secrets of [hmac.secret!, rotated.secret!, [rotated.secret!, hmac.secret!]]) {
      await expect(verifyWebhook({ secrets, headers: second!.headers, body: second!.body })).resolves.toMatchObject({ id: 'order-2' });
    }
  });

  it('streams the backlog after since_sequence, then live events, and resumes after a cut connection without a gap or a duplicate', {
    timeout: 120_000,
  }, async () => {
    const { api, runtime, token } = await world();
    const source = await tenantWithSource(api, 'stream');
    const producer = createProducer({ ingestUrl: source.ingestUrl, secret: source.secret });
    for (const n of [1, 2, 3]) await producer.send({ type: 'order.created', id: `s-${n}`, data: { n } });
    await producer.send({ type: 'other.thing', id: 'skipped', data: { n: 0 } });

    // the first connection is cut right after its first event, as a network loss would
    let connections = 0;
    const cutting = async (input: string, init: RequestInit): Promise<Response> => {
      const response = await fetch(input, init);
      if (++connections > 1 || !response.body) return response;
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let text = '';
      const body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          for (;;) {
            const { value, done } = await reader.read();
            if (done) return controller.close();
            text += decoder.decode(value, { stream: true });
            const end = text.indexOf('\n\n', text.indexOf('event: event'));
            if (text.includes('event: event') && end >= 0) {
              controller.enqueue(new TextEncoder().encode(text.slice(0, end + 2)));
              controller.error(new TypeError('connection cut'));
              await reader.cancel();
              return;
            }
          }
        },
      });
      return new Response(body, { status: response.status, headers: response.headers });
    };

    const reconnects: (number | null)[] = [];
    const messages: StreamMessage[] = [];
    const stream = streamEvents({
      baseUrl: runtime.url,
      token,
      tenantId: source.tenantId,
      types: ['order.*'],
      where: { 'data.n': { $gte: 1 } },
      sinceSequence: 0,
      fetch: cutting,
      signal: AbortSignal.timeout(60_000),
      onReconnect: (info) => reconnects.push(info.sinceSequence),
    });
    for await (const message of stream) {
      messages.push(message);
      // live events, sent once the second connection has caught up
      if (message.type === 'ready' && connections === 2) for (const n of [4, 5]) await producer.send({ type: 'order.created', id: `s-${n}`, data: { n } });
      if (messages.filter((m) => m.type === 'event').length === 5) break;
    }
    const events = messages.flatMap((m) => (m.type === 'event' ? [m] : []));
    expect(events.map((m) => m.event.ce_id)).toEqual(['s-1', 's-2', 's-3', 's-4', 's-5']);
    expect(events.map((m) => m.sequence)).toEqual([1, 2, 3, 5, 6]);
    expect(events[0]!.event).toMatchObject({ type: 'order.created', data: { n: 1 }, source_id: source.sourceId });
    expect(reconnects).toEqual([1]);
    expect(messages.find((m) => m.type === 'ready')).toEqual({ type: 'ready', head: 4 });

    // a 4xx before the stream starts ends the iteration with the problem
    const refused = streamEvents({ baseUrl: runtime.url, token, tenantId: source.tenantId, types: ['not a pattern'] });
    await expect(refused.next()).rejects.toMatchObject({ name: 'SwitchyardError', status: 422 });
  });
});
