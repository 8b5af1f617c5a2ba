/**
 * Reads one shard's internal stream for the stream mux: the SSE a TenantLog serves a request with
 * STREAM_HEADERS.mux (durable/stream-hub.ts). Each frame has `id:` (a sequence: the event's, the
 * head for `ready`, the position for `tick`), `event:`, `at:` (received_at, Unix ms; events and ticks)
 * and one `data:` line of JSON; comments (keepalives) are skipped.
 *
 * The body is read only when no whole frame is left in what was read, so a caller that stops asking
 * stops reading, and the shard's outlet sees the backpressure.
 */

export interface ShardFrame {
  event: string;
  id: number;
  at: number;
  data: string;
}

export interface FrameReader {
  /** The next frame; null once the stream ended. Rejects when the stream broke off. */
  next(): Promise<ShardFrame | null>;
  cancel(): void;
}

export function frameReader(body: ReadableStream<Uint8Array>): FrameReader {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let start = 0;
  return {
    async next() {
      for (;;) {
        const end = buffer.indexOf('\n\n', start);
        if (end >= 0) {
          const block = buffer.slice(start, end);
          start = end + 2;
          if (!block.startsWith(':')) return parseFrame(block);
          continue;
        }
        const { value, done } = await reader.read();
        if (done) return null;
        buffer = buffer.slice(start) + decoder.decode(value, { stream: true });
        start = 0;
      }
    },
    cancel() {
      reader.cancel().catch(() => {});
    },
  };
}

function parseFrame(block: string): ShardFrame {
  const frame: ShardFrame = { event: 'message', id: 0, at: 0, data: '' };
  for (const line of block.split('\n')) {
    const colon = line.indexOf(':');
    const value = line.slice(colon + 2);
    switch (line.slice(0, colon)) {
      case 'event':
        frame.event = value;
        break;
      case 'id':
        frame.id = Number(value);
        break;
      case 'at':
        frame.at = Number(value);
        break;
      case 'data':
        frame.data = value;
        break;
    }
  }
  return frame;
}
