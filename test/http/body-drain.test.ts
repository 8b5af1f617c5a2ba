import { describe, expect, it } from 'vitest';
import { call } from '../fixtures/api';

/** A 256 KiB body that records how much of it the server read. */
function countedBody(): { stream: ReadableStream<Uint8Array>; read: () => number } {
  let sent = 0;
  const chunk = new Uint8Array(16 * 1024).fill(120);
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= 256 * 1024) return controller.close();
      sent += chunk.length;
      controller.enqueue(chunk);
    },
  });
  return { stream, read: () => sent };
}

describe('answers before the body', () => {
  it('reads the whole body of a request it refuses before reading it, so the client gets the answer and not a broken pipe', async () => {
    const cases: [string, Record<string, string>, number][] = [
      ['/v1/ingest/not-a-source-id', { 'content-type': 'application/cloudevents+json' }, 404],
      ['/v1/tenants', { 'content-type': 'application/json' }, 401],
      ['/v1/no-such-route', { 'content-type': 'application/json' }, 404],
    ];
    for (const [path, headers, status] of cases) {
      const body = countedBody();
      const res = await call(path, { method: 'POST', headers, body: body.stream, duplex: 'half' } as RequestInit);
      expect(res.status, path).toBe(status);
      await res.arrayBuffer();
      expect(body.read(), path).toBe(256 * 1024);
    }
  });
});
