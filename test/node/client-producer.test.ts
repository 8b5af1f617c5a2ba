/**
 * The producer, batcher and test producers of @switchyard/client against a scripted local ingest
 * endpoint (a Node server that checks every signature with the `standardwebhooks` package): what is
 * retried and what is not, ids fixed before the first try, batch splitting. Against the real runtime
 * behind a flaky proxy: client-runtime.test.ts.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  batcher,
  BatcherError,
  createProducer,
  generateWebhookSecret,
  memoryProducer,
  noopProducer,
  type ProducerOptions,
  type RetryInfo,
  SwitchyardError,
} from '../../packages/client/src/index.ts';
import { backoffDelay, retryAfterMs } from '../../packages/client/src/retry.ts';

interface Seen {
  headers: Record<string, string>;
  body: string;
  verified: boolean;
  at: number;
}
type Answer = { status: number; headers?: Record<string, string>; body?: string } | 'drop' | 'hang';

const secret = generateWebhookSecret();
let url = '';
let seen: Seen[] = [];
let script: Answer[] = [];
let fallback: (seen: Seen) => Answer = () => ({ status: 202 });
const server = createServer((req, res) => void handle(req, res));

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const body = Buffer.concat(chunks).toString('utf8');
  const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)]));
  let verified = true;
  try {
    new Webhook(secret).verify(body, headers);
  } catch {
    verified = false;
  }
  const request = { headers, body, verified, at: Date.now() };
  seen.push(request);
  const answer = script.shift() ?? fallback(request);
  if (answer === 'drop') return void req.socket.destroy();
  if (answer === 'hang') return;
  res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers }).end(answer.body ?? accepted(body));
}

/** What the runtime answers: one result per event, in order. */
function accepted(body: string): string {
  const parsed = JSON.parse(body) as { id: string } | { id: string }[];
  if (!Array.isArray(parsed)) return JSON.stringify({ id: `evt_${parsed.id}`, sequence: 1, duplicate: false });
  return JSON.stringify({ results: parsed.map((e, i) => ({ status: 202, id: `evt_${e.id}`, sequence: i + 1, duplicate: false })) });
}

const problem = (status: number, code: string) => JSON.stringify({ type: 'about:blank', title: code, status, code, detail: `${code} detail` });

function producer(options: Partial<ProducerOptions> = {}) {
  return createProducer({ ingestUrl: `${url}/v1/ingest/src_test`, secret, backoffMs: 5, ...options });
}

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});
const reset = (answers: Answer[] = []) => {
  seen = [];
  script = answers;
  fallback = () => ({ status: 202 });
};

describe('createProducer', () => {
  it('retries a 503, a dropped connection and a 429 (after its Retry-After), re-signing the same body each time', async () => {
    reset([
      { status: 503, body: problem(503, 'storage_unavailable') },
      'drop',
      { status: 429, headers: { 'retry-after': '1' }, body: problem(429, 'rate_limited') },
    ]);
    const retries: RetryInfo[] = [];
    const result = await producer({ onRetry: (info) => retries.push(info) }).send({ type: 'order.created', data: { amount: 1 } });
    expect(result).toMatchObject({ sequence: 1, duplicate: false });
    expect(seen).toHaveLength(4);
    expect(seen.every((s) => s.verified)).toBe(true);
    expect(new Set(seen.map((s) => s.body)).size).toBe(1);
    expect(new Set(seen.map((s) => s.headers['webhook-id'])).size).toBe(1);
    expect(retries.map((r) => r.reason)).toEqual(['503', 'network_error', '429']);
    expect(retries[2]!.delayMs).toBe(1000);
    // a timer never fires early by more than the clock's rounding
    expect(seen[3]!.at - seen[2]!.at).toBeGreaterThanOrEqual(990);
    expect(seen[0]!.headers['content-type']).toBe('application/cloudevents+json');
  });

  it('fills specversion, source and a unique id before the first try, and keeps the caller’s', async () => {
    reset();
    const send = producer({ source: 'https://shop.example' });
    await send.send({ type: 'order.created', data: { amount: 1 } });
    await send.send({ type: 'order.created', data: { amount: 1 } });
    await send.send({ type: 'order.created', id: 'order-7', source: 'billing', subject: 'o/7', extensions: { tenantregion: 'eu' } });
    const [a, b, c] = seen.map((s) => JSON.parse(s.body) as Record<string, unknown>);
    expect(a).toMatchObject({ specversion: '1.0', source: 'https://shop.example', type: 'order.created', data: { amount: 1 } });
    expect(a!.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(a!.id).not.toBe(b!.id);
    expect(c).toEqual({ specversion: '1.0', id: 'order-7', source: 'billing', type: 'order.created', subject: 'o/7', tenantregion: 'eu' });
    expect(seen[2]!.headers['webhook-id']).toBe('order-7');
  });

  it('throws the problem at once, without a retry, when the runtime answers 4xx', async () => {
    for (const [status, code] of [
      [422, 'invalid_event'],
      [401, 'invalid_signature'],
      [404, 'source_not_found'],
    ] as const) {
      reset([{ status, body: problem(status, code) }]);
      const error = await producer()
        .send({ type: 'order.created' })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SwitchyardError);
      expect(error).toMatchObject({ status, code, detail: `${code} detail`, attempts: 1 });
      expect(seen).toHaveLength(1);
    }
  });

  it('refuses a malformed secret or ingest URL when created, before any request', () => {
    reset();
    expect(() => producer({ secret: 'whsec_short' })).toThrow(TypeError);
    expect(() => producer({ secret: 'not base64 at all!' })).toThrow(TypeError);
    expect(() => producer({ ingestUrl: 'src_123' })).toThrow(TypeError);
    expect(seen).toHaveLength(0);
  });

  it('gives up after the configured retries with the last problem', async () => {
    reset();
    fallback = () => ({ status: 502, body: '<html>bad gateway</html>', headers: { 'content-type': 'text/html' } });
    const error = await producer({ retries: 2 })
      .send({ type: 'order.created' })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'SwitchyardError', status: 502, code: 'http_502', attempts: 3 });
    expect(seen).toHaveLength(3);
  });

  it('retries a try that times out, and reports a timeout when every try does', async () => {
    reset(['hang']);
    await expect(producer({ timeoutMs: 300 }).send({ type: 'order.created' })).resolves.toMatchObject({ sequence: 1 });
    expect(seen).toHaveLength(2);
    reset();
    fallback = () => 'hang';
    const error = await producer({ timeoutMs: 200, retries: 1 })
      .send({ type: 'order.created' })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'SwitchyardError', status: 0, code: 'timeout', attempts: 2 });
  });

  it('sends a batch as requests of at most 1,000 events and about 1 MB, results in input order', async () => {
    reset();
    const events = Array.from({ length: 2300 }, (_, i) => ({ type: 'order.created', id: `o-${i}`, data: { n: i } }));
    const { results } = await producer().sendBatch(events);
    expect(seen.map((s) => (JSON.parse(s.body) as unknown[]).length)).toEqual([1000, 1000, 300]);
    expect(seen.every((s) => s.verified && s.headers['content-type'] === 'application/cloudevents-batch+json')).toBe(true);
    expect(results.map((r) => ('id' in r ? r.id : null))).toEqual(events.map((e) => `evt_${e.id}`));

    reset();
    const big = 'x'.repeat(300_000);
    await producer().sendBatch(Array.from({ length: 7 }, (_, i) => ({ type: 'blob.stored', id: `b-${i}`, data: big })));
    expect(seen.map((s) => (JSON.parse(s.body) as unknown[]).length)).toEqual([3, 3, 1]);
    expect(Math.max(...seen.map((s) => Buffer.byteLength(s.body)))).toBeLessThan(1024 * 1024);
    await expect(producer().sendBatch([])).resolves.toEqual({ results: [] });
  });
});

describe('batcher', () => {
  it('sends when maxEvents are buffered, and the rest on flush()', async () => {
    reset();
    const buffered = batcher(producer(), { maxEvents: 3, maxWaitMs: 60_000 });
    for (let i = 0; i < 7; i++) buffered.add({ type: 'order.created', id: `o-${i}` });
    const results = await buffered.flush();
    expect(seen.map((s) => (JSON.parse(s.body) as { id: string }[]).map((e) => e.id))).toEqual([['o-0', 'o-1', 'o-2'], ['o-3', 'o-4', 'o-5'], ['o-6']]);
    expect(results).toEqual([{ status: 202, id: 'evt_o-6', sequence: 1, duplicate: false }]);
    await expect(buffered.close()).resolves.toEqual([]);
    expect(() => buffered.add({ type: 'order.created' })).toThrow(/closed/);
  });

  it('sends a partial batch once maxWaitMs has passed without a flush()', async () => {
    const memory = memoryProducer();
    const buffered = batcher(memory, { maxEvents: 100, maxWaitMs: 20 });
    buffered.add({ type: 'order.created', id: 'late-1' });
    buffered.add({ type: 'order.created', id: 'late-2' });
    expect(buffered.size).toBe(2);
    await expect.poll(() => memory.sent.map((e) => e.id), { timeout: 5000 }).toEqual(['late-1', 'late-2']);
    expect(buffered.size).toBe(0);
  });

  it('hands the events of a failed automatic batch to onError, or throws them from the next flush()', async () => {
    reset();
    fallback = () => ({ status: 422, body: problem(422, 'invalid_batch') });
    const failed: unknown[][] = [];
    const reported = batcher(producer(), { maxEvents: 2, onError: (_error, events) => failed.push(events) });
    reported.add({ type: 'order.created', id: 'a' });
    reported.add({ type: 'order.created', id: 'b' });
    await expect(reported.flush()).resolves.toEqual([]);
    expect(failed).toEqual([[expect.objectContaining({ id: 'a' }), expect.objectContaining({ id: 'b' })]]);

    const unreported = batcher(producer(), { maxEvents: 2 });
    unreported.add({ type: 'order.created', id: 'c' });
    unreported.add({ type: 'order.created', id: 'd' });
    const error = await unreported.flush().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BatcherError);
    expect((error as BatcherError).events.map((e) => e.id)).toEqual(['c', 'd']);
    expect((error as BatcherError).cause).toBeInstanceOf(SwitchyardError);
    await expect(unreported.flush()).resolves.toEqual([]);
  });
});

describe('memoryProducer and noopProducer', () => {
  it('records each event once, answering a resent id as a duplicate', async () => {
    const memory = memoryProducer<{ 'order.created': { amount: number } }>();
    const first = await memory.send({ type: 'order.created', id: 'o-1', data: { amount: 1 } });
    const again = await memory.send({ type: 'order.created', id: 'o-1', data: { amount: 1 } });
    const { results } = await memory.sendBatch([{ type: 'order.created', data: { amount: 2 } }]);
    expect(first).toEqual({ id: 'evt_memory_1', sequence: 1, duplicate: false });
    expect(again).toEqual({ ...first, duplicate: true });
    expect(results).toEqual([{ status: 202, id: 'evt_memory_2', sequence: 2, duplicate: false }]);
    expect(memory.sent).toEqual([
      { specversion: '1.0', id: 'o-1', source: 'switchyard/client', type: 'order.created', data: { amount: 1 } },
      expect.objectContaining({ type: 'order.created', data: { amount: 2 } }),
    ]);
    memory.clear();
    expect(memory.sent).toEqual([]);
  });

  it('accepts everything and sends nothing with noopProducer', async () => {
    const noop = noopProducer();
    await expect(noop.send({ type: 'order.created' })).resolves.toEqual({ id: '', sequence: 0, duplicate: false });
    await expect(noop.sendBatch([{ type: 'a.b' }, { type: 'c.d' }])).resolves.toMatchObject({ results: [{ status: 202 }, { status: 202 }] });
  });
});

describe('retry policy', () => {
  it('draws backoff delays below min(cap, base · 2^retry) and reads Retry-After seconds or dates', () => {
    expect([0, 1, 2, 3, 10].map((retry) => backoffDelay(retry, 200, 5000, () => 0.9999))).toEqual([199, 399, 799, 1599, 4999]);
    expect(backoffDelay(4, 200, 5000, () => 0)).toBe(0);
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(retryAfterMs('7', now)).toBe(7000);
    expect(retryAfterMs('Thu, 01 Jan 2026 00:00:30 GMT', now)).toBe(30_000);
    expect(retryAfterMs('Wed, 31 Dec 2025 23:00:00 GMT', now)).toBe(0);
    expect(retryAfterMs('soon', now)).toBeNull();
    expect(retryAfterMs(null, now)).toBeNull();
  });
});
