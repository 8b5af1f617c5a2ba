/**
 * Maps what an HTTP destination did to an {@link ActionOutcome}. Pure: no I/O, the clock is a
 * parameter. Every HTTP action classifies its answers with it (through `postAndClassify`), so
 * destinations are judged alike whichever plugin reached them.
 *
 * Rules a reader would not guess:
 * - 3xx is a permanent `rejected`: redirects are never followed (a redirect is the classic way to
 *   steer a server-side request to an internal address), and retrying will not change the answer.
 * - 408, 409, 425, 429 and every 5xx are retried; `Retry-After` is read only on 429 and 503, as
 *   seconds or an HTTP-date, and capped, because a destination must not park a delivery for days.
 * - Errors are told apart by `name`, the one thing that survives crossing module boundaries:
 *   `EgressRefused` (the SSRF guard) is permanent; `TimeoutError`, `AbortError` and network errors
 *   are retried.
 */
import type { ActionOutcome } from '../types';

/** How much of a response body is kept for delivery records, in UTF-8 bytes. */
export const RESPONSE_BODY_LIMIT_BYTES = 1024;

/** The longest `Retry-After` honoured when the caller does not say otherwise. */
export const RETRY_AFTER_CAP_SECONDS = 60 * 60;

const RETRYABLE_4XX = new Set([408, 409, 425, 429]);

export interface HttpAnswer {
  status: number;
  headers: Headers;
  /** The response body as text; it is truncated here, so callers may pass it whole. */
  body?: string;
}

export interface ClassifyOptions {
  /** Unix milliseconds, to turn an HTTP-date `Retry-After` into seconds. */
  now?: number;
  retryAfterCapSeconds?: number;
}

export function classifyResponse(answer: HttpAnswer, options: ClassifyOptions = {}): ActionOutcome {
  const { status } = answer;
  const responseBody = answer.body ? truncateBody(answer.body) : undefined;
  const withBody = responseBody === undefined ? {} : { responseBody };
  if (status >= 200 && status <= 299) return { kind: 'delivered', status, ...withBody };
  if (status === 410) return { kind: 'gone', status, error: 'destination answered 410 Gone' };
  if (status >= 300 && status <= 399) {
    const location = answer.headers.get('location');
    const to = location ? ` to ${location.slice(0, 200)}` : '';
    return { kind: 'rejected', status, error: `destination answered ${status}${to}; redirects are not followed`, ...withBody };
  }
  if (status === 429 || status === 503) {
    const retryAfterSeconds = parseRetryAfter(
      answer.headers.get('retry-after'),
      options.now ?? Date.now(),
      options.retryAfterCapSeconds ?? RETRY_AFTER_CAP_SECONDS,
    );
    return { kind: 'retry', status, error: `destination answered ${status}`, ...withBody, ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }) };
  }
  if (RETRYABLE_4XX.has(status) || (status >= 500 && status <= 599)) {
    return { kind: 'retry', status, error: `destination answered ${status}`, ...withBody };
  }
  if (status >= 400 && status <= 499) return { kind: 'rejected', status, error: `destination answered ${status}`, ...withBody };
  // Outside 2xx-5xx is a broken intermediary rather than the destination's verdict.
  return { kind: 'retry', status, error: `unexpected status ${status}`, ...withBody };
}

/** Classifies a fetch that threw instead of answering. */
export function classifyError(error: unknown): ActionOutcome {
  const name = error instanceof Error || error instanceof DOMException ? error.name : '';
  const message = error instanceof Error || error instanceof DOMException ? error.message : String(error);
  if (name === 'EgressRefused') return { kind: 'rejected', error: `destination refused: ${message}` };
  if (name === 'TimeoutError') return { kind: 'retry', error: `timed out: ${message}` };
  if (name === 'AbortError') return { kind: 'retry', error: `aborted: ${message}` };
  return { kind: 'retry', error: `network error: ${message}` };
}

/**
 * Reads `Retry-After` as delta-seconds or an HTTP-date (RFC 9110 §10.2.3). Returns whole seconds
 * from `now`, at most `capSeconds`; a date in the past is 0; anything unreadable is `undefined`.
 */
export function parseRetryAfter(value: string | null, now: number, capSeconds = RETRY_AFTER_CAP_SECONDS): number | undefined {
  const text = value?.trim();
  if (!text) return undefined;
  if (/^\d+$/.test(text)) return Math.min(Number(text), capSeconds);
  // Date.parse also accepts ISO strings and worse; an HTTP-date starts with a weekday and ends in GMT.
  if (!/^[A-Za-z]{3,9}, .+ GMT$/.test(text)) return undefined;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.min(Math.max(0, Math.ceil((at - now) / 1000)), capSeconds);
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Cuts text to {@link RESPONSE_BODY_LIMIT_BYTES} UTF-8 bytes without splitting a character. */
export function truncateBody(text: string, limitBytes = RESPONSE_BODY_LIMIT_BYTES): string {
  // A UTF-16 unit is at most 3 UTF-8 bytes, so short strings need no encoding.
  if (text.length * 3 <= limitBytes) return text;
  const bytes = encoder.encode(text);
  if (bytes.length <= limitBytes) return text;
  let end = limitBytes;
  // Back up to a character boundary: continuation bytes look like 10xxxxxx.
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end--;
  return decoder.decode(bytes.subarray(0, end));
}
