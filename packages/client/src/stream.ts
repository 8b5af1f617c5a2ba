/**
 * The tenant's live events as an async iterator, over Server-Sent Events read with fetch (so it can
 * send the Authorization header a browser's EventSource cannot). It follows the stream contract of
 * `GET /v1/tenants/{t}/events/stream`: the backlog after `sinceSequence` (when given), a `ready`
 * message with the head, then live events. When the connection ends or fails it reconnects with
 * `since_sequence` = the last message the loop body finished with, so nothing is lost or repeated (on a
 * tenant with more than one shard that is the comma list of per-shard last sequences, and an event is
 * yielded only if its sequence is above its shard's last: {@link streamCursor}); an
 * expired token, a deleted tenant or any 4xx before the stream ends the iteration with a
 * {@link SwitchyardError}. Breaking out of the loop (or `signal`) closes the connection.
 */
import { problemOf, SwitchyardError } from './errors.ts';
import { backoffDelay, retryableStatus, retryAfterMs } from './retry.ts';
import type { components } from './schema.ts';
import { readSse } from './sse.ts';
import { streamCursor } from './stream-cursor.ts';

export type StreamMessage =
  | { type: 'event'; sequence: number; event: components['schemas']['Event'] }
  /**
   * After the backlog: the tenant's head sequence (the resume point even when nothing matched); with
   * more than one shard `cursor` is the resume point, the comma list of per-shard last sequences.
   */
  | { type: 'ready'; head: number; cursor?: string };

export interface StreamEventsOptions {
  baseUrl: string;
  /** An admin token or a tenant token with `events:read`. */
  token: string;
  tenantId: string;
  /** Event-type patterns, as a subscription's `types` (default: every non-system event). */
  types?: string | readonly string[];
  /** A subscription `where` filter. */
  where?: Record<string, unknown>;
  /**
   * Replay the stored events after this sequence first (with more than one shard: a comma list of
   * per-shard last sequences, e.g. a saved `ready.cursor`); live only when absent.
   */
  sinceSequence?: number | string;
  signal?: AbortSignal;
  fetch?: (input: string, init: RequestInit) => Promise<Response>;
  /** Longest wait between reconnection attempts; default 10,000 ms. */
  maxReconnectDelayMs?: number;
  /**
   * `cursor`: the `since_sequence` the next connection sends; `sinceSequence`: it as a number (with
   * several shards the highest of the list, as `ready.head`).
   */
  onReconnect?: (info: { attempt: number; delayMs: number; reason: string; sinceSequence: number | null; cursor: string | null }) => void;
}

// server close codes after which reconnecting cannot help
const FINAL_CLOSES: Record<number, number> = { 4401: 401, 4410: 410 };

export async function* streamEvents(options: StreamEventsOptions): AsyncGenerator<StreamMessage, void, undefined> {
  const fetcher = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const maxDelayMs = options.maxReconnectDelayMs ?? 10_000;
  const cursor = streamCursor(options.sinceSequence ?? null);
  let failures = 0;
  while (!options.signal?.aborted) {
    const controller = new AbortController();
    const stop = () => controller.abort();
    options.signal?.addEventListener('abort', stop);
    let reason = 'closed';
    let delayMs: number | null = null;
    try {
      const response = await fetcher(streamUrl(options, cursor.since()), {
        headers: { accept: 'text/event-stream', authorization: `Bearer ${options.token}` },
        signal: controller.signal,
      });
      if (!response.ok || !response.body) {
        const problem = problemOf(response.status, await response.text());
        if (!retryableStatus(response.status)) throw new SwitchyardError(problem, failures + 1);
        reason = String(response.status);
        const after = retryAfterMs(response.headers.get('retry-after'), Date.now());
        if (after !== null) delayMs = Math.min(after, maxDelayMs);
      } else {
        for await (const sse of readSse(response.body)) {
          failures = 0;
          const message = JSON.parse(sse.data) as StreamMessage | { type: 'close'; code: number; reason: string };
          if (message.type === 'close') {
            const status = FINAL_CLOSES[message.code];
            if (status)
              throw new SwitchyardError(
                { type: 'about:blank', title: message.reason, status, code: message.reason, detail: `the stream was closed: ${message.reason}` },
                1,
              );
            reason = message.reason;
            break;
          }
          // messages of types this version does not know are skipped; a reconnect resumes after each one the loop body finished with
          if (message.type === 'event') {
            if (!cursor.isNew(message.sequence)) continue;
            yield message;
            cursor.advance(message.sequence);
          } else if (message.type === 'ready') {
            yield message;
            // past every event up to it, matched or not: the per-shard list, or for one shard the head
            cursor.advance(message.cursor ?? message.head);
          }
        }
      }
    } catch (error) {
      if (error instanceof SwitchyardError || error instanceof SyntaxError) throw error;
      if (options.signal?.aborted) return;
      reason = 'network_error';
    } finally {
      options.signal?.removeEventListener('abort', stop);
      controller.abort();
    }
    failures++;
    delayMs ??= backoffDelay(failures - 1, 250, maxDelayMs);
    const since = cursor.since();
    const sinceSequence = since === null ? null : Math.max(...since.split(',').map(Number));
    options.onReconnect?.({ attempt: failures, delayMs, reason, sinceSequence, cursor: since });
    await sleep(delayMs, options.signal);
  }
}

function streamUrl(options: StreamEventsOptions, since: string | null): string {
  const query = new URLSearchParams();
  if (options.types !== undefined) query.set('types', typeof options.types === 'string' ? options.types : options.types.join(','));
  if (options.where !== undefined) query.set('where', JSON.stringify(options.where));
  if (since !== null) query.set('since_sequence', since);
  const base = options.baseUrl.replace(/\/+$/, '');
  return `${base}/v1/tenants/${encodeURIComponent(options.tenantId)}/events/stream${query.size > 0 ? `?${query}` : ''}`;
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
  });
}
