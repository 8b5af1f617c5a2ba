/**
 * The two ways a live-stream listener is connected, behind one small interface the hub writes to.
 * Sends never wait for the client: a message is handed to the runtime and the outlet reports whether
 * the client is keeping up.
 *
 * - WebSocket (hibernatable): workerd has no `bufferedAmount` (cloudflare/workerd#988), so the runtime
 *   cannot say how much a socket still holds. Each socket gets a byte budget instead, a leaky bucket of
 *   {@link WS_BUDGET_BYTES} that drains at {@link WS_DRAIN_BYTES_PER_SECOND}: a listener sent more than
 *   that (a burst past the budget, or a sustained rate above the drain) is treated as too slow.
 * - Server-Sent Events: a TransformStream the object holds in memory (SSE cannot hibernate). Its queue
 *   is measured in bytes; once more than {@link SSE_QUEUE_BYTES} wait for the client, it is too slow.
 *   The stream mux's internal streams (`positions`) also carry each event's `received_at` as an `at:`
 *   line, which it merges by (src/http/stream-mux.ts).
 */

export const WS_BUDGET_BYTES = 4 * 1024 * 1024;
export const WS_DRAIN_BYTES_PER_SECOND = 1024 * 1024;
export const SSE_QUEUE_BYTES = 4 * 1024 * 1024;

export type Transport = 'ws' | 'sse';
export type Sent = 'sent' | 'slow' | 'gone';
/** `tick`: the stream mux's position frames (stream-tick.ts), sent only on its internal streams. */
export type FrameKind = 'event' | 'ready' | 'tick';

export interface Outlet {
  transport: Transport;
  /**
   * Hands one message (its JSON text) to the client: `slow` when the client is too slow for it, `gone`
   * when the connection already ended (its close event may still be on its way). `id` is
   * the event's sequence, or the head for `ready` (SSE sends it as the `id:` line, Last-Event-ID; the
   * stream mux's is a list of sequences). `at` is the event's `received_at` (Unix ms).
   */
  send(kind: FrameKind, id: number | string, message: string, at?: number): Sent;
  /** How long to wait before `bytes` more fit (backlog pages pace themselves instead of overflowing). */
  waitMsFor(bytes: number): number;
  /** Ends the connection with a close code and reason (for SSE, a last `close` event, when it can be delivered). */
  close(code: number, reason: string): void;
}

export function webSocketOutlet(ws: WebSocket): Outlet {
  let level = 0;
  let at = Date.now();
  const drain = () => {
    const now = Date.now();
    level = Math.max(0, level - ((now - at) / 1000) * WS_DRAIN_BYTES_PER_SECOND);
    at = now;
  };
  return {
    transport: 'ws',
    send(_kind, _id, message) {
      drain();
      // one event may be larger than the budget (1.5 MiB events, 4 MiB budget: not today); it goes alone
      if (level > 0 && level + message.length > WS_BUDGET_BYTES) return 'slow';
      try {
        ws.send(message);
      } catch {
        return 'gone';
      }
      level += message.length;
      return 'sent';
    },
    waitMsFor(bytes) {
      drain();
      const over = level + bytes - WS_BUDGET_BYTES;
      return level === 0 || over <= 0 ? 0 : Math.ceil((over / WS_DRAIN_BYTES_PER_SECOND) * 1000);
    },
    close(code, reason) {
      try {
        ws.close(code, reason);
      } catch {
        // already closed
      }
    },
  };
}

const encoder = new TextEncoder();

/**
 * An SSE stream and its outlet; `closed` settles when the client goes away or the stream ends. With
 * `positions` (the stream mux's internal streams) a frame given an `at` gets an `at:` line.
 */
export function sseOutlet(options: { positions?: boolean } = {}): {
  outlet: Outlet;
  readable: ReadableStream<Uint8Array>;
  closed: Promise<unknown>;
  keepalive(): void;
} {
  const stream = new TransformStream<Uint8Array, Uint8Array>(undefined, { highWaterMark: SSE_QUEUE_BYTES, size: (chunk) => chunk.byteLength });
  const writer = stream.writable.getWriter();
  let ended = false;
  const write = (text: string) => {
    // a write to a stream the client left rejects; `closed` reports that
    writer.write(encoder.encode(text)).catch(() => {});
  };
  const queued = () => SSE_QUEUE_BYTES - (writer.desiredSize ?? 0);
  const outlet: Outlet = {
    transport: 'sse',
    send(kind, id, message, at) {
      if (ended) return 'gone';
      if ((writer.desiredSize ?? 0) < 0) return 'slow';
      const position = options.positions && at !== undefined ? `at: ${at}\n` : '';
      write(`id: ${id}\nevent: ${kind}\n${position}data: ${message}\n\n`);
      return 'sent';
    },
    waitMsFor(bytes) {
      return queued() + bytes > SSE_QUEUE_BYTES && queued() > 0 ? 250 : 0;
    },
    close(code, reason) {
      if (ended) return;
      ended = true;
      if (code === 4008) {
        // the client is not reading, so a last event would never arrive: the response breaks off instead
        writer.ready.catch(() => {});
        writer.abort(reason).catch(() => {});
        return;
      }
      write(`event: close\ndata: ${JSON.stringify({ type: 'close', code, reason })}\n\n`);
      writer.close().catch(() => {});
    },
  };
  return {
    outlet,
    readable: stream.readable,
    closed: writer.closed,
    keepalive: () => {
      if (!ended && (writer.desiredSize ?? 0) > 0) write(': keepalive\n\n');
    },
  };
}
