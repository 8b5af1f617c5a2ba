/**
 * `streamEvents` and its Server-Sent Events reader against a scripted local server: the wire format
 * in awkward chunks, reconnection with the right `since_sequence`, and the closes and refusals that
 * end the iteration. The stream of a real runtime is covered in client-runtime.test.ts.
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type StreamMessage, streamEvents, SwitchyardError } from '../../packages/client/src/index.ts';
import { readSse } from '../../packages/client/src/sse.ts';

function chunked(parts: string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      for (const part of parts) controller.enqueue(encoder.encode(part));
      controller.close();
    },
  });
}

const frame = (sequence: number) => `id: ${sequence}\nevent: event\ndata: ${JSON.stringify({ type: 'event', sequence, event: { id: `evt_${sequence}` } })}\n\n`;
const ready = (head: number) => `id: ${head}\nevent: ready\ndata: ${JSON.stringify({ type: 'ready', head })}\n\n`;

let url = '';
const requests: URL[] = [];
let answers: ((res: ServerResponse, request: URL) => void)[] = [];
const server = createServer((req, res) => {
  const request = new URL(req.url ?? '/', 'http://stream');
  requests.push(request);
  const answer = answers.shift();
  if (answer) answer(res, request);
  else res.writeHead(500).end();
});
const sse = (body: string) => (res: ServerResponse) => res.writeHead(200, { 'content-type': 'text/event-stream' }).end(body);

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

async function collect(iterator: AsyncGenerator<StreamMessage>, count: number): Promise<StreamMessage[]> {
  const messages: StreamMessage[] = [];
  for await (const message of iterator) {
    messages.push(message);
    if (messages.length === count) break;
  }
  return messages;
}

describe('readSse', () => {
  it('reads messages split anywhere, with CRLF or CR line ends, comments and multi-line data', async () => {
    const text = ': keepalive\r\n\r\nid: 1\r\nevent: event\r\ndata: {"a":\r\ndata: 1}\r\n\r\nevent: ready\rdata:{"head":1}\r\rdata: plain\n\n';
    const parts = text.match(/.{1,3}/gs)!;
    const messages = [];
    for await (const message of readSse(chunked(parts))) messages.push(message);
    expect(messages).toEqual([
      { event: 'event', data: '{"a":\n1}', id: '1' },
      { event: 'ready', data: '{"head":1}', id: '1' },
      { event: 'message', data: 'plain', id: '1' },
    ]);
  });
});

describe('streamEvents', () => {
  it('reconnects after the stream ends or fails, resuming after the last message handled', async () => {
    requests.length = 0;
    answers = [
      sse(frame(4) + frame(5)),
      (res) => res.writeHead(503, { 'retry-after': '0', 'content-type': 'application/problem+json' }).end('{"code":"storage_unavailable","status":503}'),
      (res) => res.socket?.destroy(),
      sse(frame(6) + ready(9)),
      sse(frame(10)),
    ];
    const reconnects: (number | null)[] = [];
    const messages = await collect(
      streamEvents({
        baseUrl: url,
        token: 't',
        tenantId: 'tn_1',
        types: ['orders.*', 'payment.failed'],
        where: { 'data.n': { $gt: 1 } },
        sinceSequence: 3,
        maxReconnectDelayMs: 20,
        onReconnect: (info) => reconnects.push(info.sinceSequence),
      }),
      5,
    );
    expect(messages.map((m) => (m.type === 'event' ? m.sequence : `ready ${m.head}`))).toEqual([4, 5, 6, 'ready 9', 10]);
    expect(requests.map((r) => r.searchParams.get('since_sequence'))).toEqual(['3', '5', '5', '5', '9']);
    expect(reconnects).toEqual([5, 5, 5, 9]);
    expect(requests[0]!.pathname).toBe('/v1/tenants/tn_1/events/stream');
    expect(requests[0]!.searchParams.get('types')).toBe('orders.*,payment.failed');
    expect(JSON.parse(requests[0]!.searchParams.get('where')!)).toEqual({ 'data.n': { $gt: 1 } });
  });

  it('yields each event of a multi-shard stream once, dedupes per shard and resumes with the per-shard list', async () => {
    requests.length = 0;
    const shard = (s: number, n: number) => s * 10 ** 13 + n;
    const readyList = `event: ready\ndata: ${JSON.stringify({ type: 'ready', head: shard(3, 1), cursor: `2,${shard(1, 1)},${shard(2, 5)},${shard(3, 1)}` })}\n\n`;
    answers = [
      // merged in (received_at, sequence) order: sequences go down as well as up
      sse(frame(shard(1, 1)) + frame(1) + frame(shard(3, 1)) + frame(2) + readyList),
      // a repeat of shard 0's last at the seam, then new events of shards 1 and 0
      sse(frame(2) + frame(shard(1, 2)) + frame(3)),
    ];
    const reconnects: (string | null)[] = [];
    const messages = await collect(
      streamEvents({
        baseUrl: url,
        token: 't',
        tenantId: 'tn_1',
        sinceSequence: String(shard(2, 5)),
        maxReconnectDelayMs: 20,
        onReconnect: (i) => reconnects.push(i.cursor),
      }),
      7,
    );
    expect(messages.map((m) => (m.type === 'event' ? m.sequence : `ready ${m.cursor}`))).toEqual([
      shard(1, 1),
      1,
      shard(3, 1),
      2,
      `ready 2,${shard(1, 1)},${shard(2, 5)},${shard(3, 1)}`,
      shard(1, 2),
      3,
    ]);
    expect(requests.map((r) => r.searchParams.get('since_sequence'))).toEqual([String(shard(2, 5)), `2,${shard(1, 1)},${shard(2, 5)},${shard(3, 1)}`]);
    expect(reconnects).toEqual([`2,${shard(1, 1)},${shard(2, 5)},${shard(3, 1)}`]);
  });

  it('ends with a SwitchyardError on a 4xx or when the server closes for an expired token', async () => {
    answers = [(res) => res.writeHead(422, { 'content-type': 'application/problem+json' }).end('{"status":422,"code":"invalid_filter","detail":"bad"}')];
    const refused = await collect(streamEvents({ baseUrl: url, token: 't', tenantId: 'tn_1' }), 1).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(SwitchyardError);
    expect(refused).toMatchObject({ status: 422, code: 'invalid_filter' });

    answers = [sse(`${frame(1)}event: close\ndata: {"type":"close","code":4401,"reason":"token_expired"}\n\n`)];
    const seen: StreamMessage[] = [];
    const expired = await (async () => {
      for await (const message of streamEvents({ baseUrl: url, token: 't', tenantId: 'tn_1' })) seen.push(message);
    })().catch((e: unknown) => e);
    expect(seen).toHaveLength(1);
    expect(expired).toMatchObject({ name: 'SwitchyardError', status: 401, code: 'token_expired' });
  });

  it('stops without an error when its signal aborts', async () => {
    const controller = new AbortController();
    answers = [(res) => res.writeHead(200, { 'content-type': 'text/event-stream' }).write(frame(1))];
    const seen: StreamMessage[] = [];
    for await (const message of streamEvents({ baseUrl: url, token: 't', tenantId: 'tn_1', signal: controller.signal })) {
      seen.push(message);
      controller.abort();
    }
    expect(seen).toHaveLength(1);
  });
});
