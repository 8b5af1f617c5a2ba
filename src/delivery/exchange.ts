/**
 * What one attempt sent and got back, as the delivery detail shows it (issue 13): captured by the
 * guarded fetch, bounded, and masked before it is recorded with the attempt (same INSERT).
 *
 * Rules a reader would not guess:
 * - Bounds: the request body keeps its first {@link REQUEST_BODY_LIMIT_BYTES} bytes (`bodyBytes` is
 *   the original size); each direction keeps at most {@link HEADER_LIMIT} headers, values cut at
 *   {@link HEADER_VALUE_LIMIT} characters. The response body is the attempt's `response_body` (1 KiB).
 * - Masking ({@link maskExchange}): any header whose value holds a configured secret value (a
 *   write-only plugin config field, e.g. a webhook's `Authorization` header) becomes `********`, and
 *   such a value is replaced in the URL and body too (a secret URL in its normalised spelling as well).
 *   `Authorization` is masked whatever it holds (the SMS action's HTTP Basic credentials). The Standard Webhooks signature headers are
 *   kept: they are what the receiver got, and cannot be replayed past the receiver's 5-minute tolerance.
 * - A body the action sent as a stream, Blob or FormData is not read (reading it would consume it):
 *   the request is recorded with a null body.
 */
import { SECRET_MARKER } from '../plugins/types';

export const REQUEST_BODY_LIMIT_BYTES = 16 * 1024;
export const HEADER_LIMIT = 50;
export const HEADER_VALUE_LIMIT = 1024;
export const MASK = '********';
// masked whatever they hold: HTTP Basic carries a secret base64-encoded, where no configured value matches it
const CREDENTIAL_HEADERS = new Set(['authorization', 'proxy-authorization']);

export interface SentRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string | null;
  bodyBytes: number | null;
  bodyTruncated: boolean;
}

export interface ReceivedHead {
  headers: Record<string, string>;
  /** The body was longer than what the guarded fetch kept. */
  bodyTruncated: boolean;
}

/** Filled by the guarded fetch: the last request an attempt sent, and the head of its answer (if any). */
export interface Exchange {
  request: SentRequest | null;
  response: ReceivedHead | null;
}

export function boundedHeaders(headers: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  let count = 0;
  for (const [name, value] of headers) {
    if (count++ >= HEADER_LIMIT) break;
    out[name] = value.length > HEADER_VALUE_LIMIT ? `${value.slice(0, HEADER_VALUE_LIMIT)}…` : value;
  }
  return out;
}

function bytesOf(body: BodyInit | null | undefined): Uint8Array | null {
  if (body === null || body === undefined) return new Uint8Array(0);
  if (typeof body === 'string') return new TextEncoder().encode(body);
  if (body instanceof URLSearchParams) return new TextEncoder().encode(body.toString());
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  if (ArrayBuffer.isView(body)) return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  return null;
}

/**
 * The request as the guarded fetch is about to send it (the checked URL, the caller's init), whole:
 * it is masked before it is cut, so a secret cannot survive half-cut at a bound ({@link finishExchange}).
 */
export function captureRequest(url: string, init: RequestInit): SentRequest {
  const method = (init.method ?? 'GET').toUpperCase();
  const headers = Object.fromEntries(new Headers(init.headers));
  const bytes = bytesOf(init.body);
  if (!bytes) return { method, url, headers, body: null, bodyBytes: null, bodyTruncated: false };
  return { method, url, headers, body: new TextDecoder().decode(bytes), bodyBytes: bytes.byteLength, bodyTruncated: false };
}

/** The plain values at the write-only paths of a config: where `masked` (its `maskSecrets` copy) holds the marker. */
export function secretValues(opened: unknown, masked: unknown, out: string[] = []): string[] {
  if (masked === SECRET_MARKER && typeof opened === 'string' && opened !== SECRET_MARKER) out.push(opened);
  else if (typeof masked === 'object' && masked !== null && typeof opened === 'object' && opened !== null) {
    for (const [key, inner] of Object.entries(masked)) secretValues((opened as Record<string, unknown>)[key], inner, out);
  }
  return out;
}

/** The exchange as it is recorded: secret values masked (see the module comment), then bounded. */
export function finishExchange(exchange: Exchange, secrets: readonly string[]): Exchange {
  const { request } = exchange;
  if (!request) return exchange;
  // a secret URL (a Slack or Discord webhook) is fetched in its normalised form: mask both spellings
  const spellings = secrets.flatMap((s) => (URL.canParse(s) ? [s, new URL(s).href] : [s]));
  const values = [...new Set(spellings.filter((s) => s.length > 0))].sort((a, b) => b.length - a.length);
  const scrub = (text: string) => values.reduce((t, v) => t.split(v).join(MASK), text);
  const headers = new Headers();
  for (const [name, value] of Object.entries(request.headers)) {
    headers.set(name, CREDENTIAL_HEADERS.has(name.toLowerCase()) || values.some((v) => value.includes(v)) ? MASK : value);
  }
  let body = request.body === null ? null : scrub(request.body);
  let bodyTruncated = false;
  if (body !== null) {
    const bytes = new TextEncoder().encode(body);
    if (bytes.byteLength > REQUEST_BODY_LIMIT_BYTES) {
      // a character cut in half at the bound decodes as U+FFFD
      body = new TextDecoder().decode(bytes.subarray(0, REQUEST_BODY_LIMIT_BYTES));
      bodyTruncated = true;
    }
  }
  return { ...exchange, request: { ...request, url: scrub(request.url), headers: boundedHeaders(headers), body, bodyTruncated } };
}
