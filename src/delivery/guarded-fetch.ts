/**
 * The fetch that actions get as `ActionContext.fetch`.
 *
 * Rules a reader would not guess:
 * - The destination is checked by {@link checkDestination} and a refusal throws {@link EgressRefused}
 *   (its `name` is what plugins match on, since they cannot import this module). The checked,
 *   normalised URL is what is fetched, so the address that passed the check is the one reached.
 * - `redirect` is always `'manual'`, whatever the caller asks: a 3xx comes back as it is and is never
 *   followed, so a redirect cannot lead past the guard.
 * - The timeout covers the whole exchange, body included: the body is read here, at most
 *   `bodyLimitBytes` of it is kept and the rest is cancelled, and the returned Response holds only
 *   the kept bytes. A timeout rejects with a `TimeoutError` DOMException; the caller's own
 *   `init.signal` still aborts as usual.
 * - With `exchange`, each call notes the request it sends (the checked URL) and the head of the
 *   answer in it, unmasked and whole: the attempt masks and bounds it (./exchange.ts). A refused
 *   destination sends nothing and notes nothing.
 */
import { boundedHeaders, captureRequest, type Exchange, type ReceivedHead } from './exchange';
import { checkDestination } from './ssrf-guard';

export const DEFAULT_TIMEOUT_MS = 15_000;
export const BODY_LIMIT_BYTES = 1024;

/** Thrown when the SSRF guard refuses a destination; permanent, retrying cannot help. */
export class EgressRefused extends Error {
  override readonly name = 'EgressRefused';
  constructor(
    readonly url: string,
    readonly reason: string,
  ) {
    super(reason);
  }
}

export interface GuardedFetchOptions {
  /** Normalised `host:port` entries, as `parseAllowlist` returns them. */
  allowlist: readonly string[];
  timeoutMs?: number;
  fetchImpl?: typeof fetch;
  bodyLimitBytes?: number;
  /** Where the last request sent and its answer's head are noted (the delivery detail's "as sent"). */
  exchange?: Exchange;
}

export type GuardedFetch = (url: string, init?: RequestInit) => Promise<Response>;

export function createGuardedFetch({
  allowlist,
  timeoutMs = DEFAULT_TIMEOUT_MS,
  fetchImpl = fetch,
  bodyLimitBytes = BODY_LIMIT_BYTES,
  exchange,
}: GuardedFetchOptions): GuardedFetch {
  return async function guardedFetch(url, init = {}) {
    const verdict = checkDestination(url, allowlist);
    if (!verdict.ok) throw new EgressRefused(url, verdict.reason);
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(new DOMException(`no complete answer within ${timeoutMs} ms`, 'TimeoutError')), timeoutMs);
    const signal = init.signal ? AbortSignal.any([init.signal, deadline.signal]) : deadline.signal;
    if (exchange) {
      exchange.request = captureRequest(verdict.url.href, init);
      exchange.response = null;
    }
    try {
      const response = await fetchImpl(verdict.url.href, { ...init, redirect: 'manual', signal });
      // noted before the body is read: an answer whose body breaks off still shows its head
      const head: ReceivedHead | null = exchange ? (exchange.response = { headers: boundedHeaders(response.headers), bodyTruncated: false }) : null;
      const kept = await keepHead(response, bodyLimitBytes, signal);
      if (head) head.bodyTruncated = kept.truncated;
      return kept.response;
    } catch (error) {
      // Some runtimes reject with a generic AbortError; report the deadline as what it was.
      throw deadline.signal.aborted ? deadline.signal.reason : error;
    } finally {
      clearTimeout(timer);
    }
  };
}

const NULL_BODY_STATUSES = new Set([101, 204, 205, 304]);

async function keepHead(response: Response, limit: number, signal: AbortSignal): Promise<{ response: Response; truncated: boolean }> {
  const head = { status: response.status, statusText: response.statusText, headers: response.headers };
  if (response.status < 200 || response.status > 599) return { response, truncated: false };
  if (!response.body || NULL_BODY_STATUSES.has(response.status)) {
    await response.body?.cancel();
    return { response: new Response(null, head), truncated: false };
  }
  const reader = response.body.getReader();
  // A stalled body must not outlive the deadline: cancelling ends the pending read.
  const onAbort = () => void reader.cancel(signal.reason).catch(() => undefined);
  signal.addEventListener('abort', onAbort, { once: true });
  const chunks: Uint8Array[] = [];
  let kept = 0;
  let done = false;
  let cut = false;
  try {
    while (kept < limit) {
      const read = await reader.read();
      if (read.done) {
        done = true;
        break;
      }
      const value = read.value;
      const part = value.subarray(0, limit - kept);
      cut ||= part.length < value.length;
      chunks.push(part);
      kept += part.length;
    }
    signal.throwIfAborted();
  } finally {
    signal.removeEventListener('abort', onAbort);
    // Cancelling drops the rest of a large body instead of downloading it.
    await reader.cancel().catch(() => undefined);
  }
  const body = new Uint8Array(kept);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.length;
  }
  // full to the limit without a cut chunk: the declared length tells whether more was coming (none declared: maybe)
  const declared = Number(response.headers.get('content-length') ?? Number.NaN);
  const truncated = cut || (!done && kept >= limit && !(declared <= limit));
  return { response: new Response(body, head), truncated };
}
