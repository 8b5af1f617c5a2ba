/**
 * A producer sends events to a source's ingest URL, signed with the source's `whsec_` secret
 * (Standard Webhooks v1). Retries, with exponential backoff and full jitter, happen only where a
 * resend can do no harm and may succeed: a network error, a timeout, 429 (after `Retry-After`, capped)
 * and 5xx. Every event has its id before the first try, so a retry of a request the runtime did store
 * comes back as `duplicate: true` instead of a second copy. Each try is signed again with a fresh
 * timestamp, so a long backoff never outlives the 5-minute tolerance. Anything else (4xx) throws a
 * {@link SwitchyardError} at once.
 */
import { toCloudEvent, DEFAULT_SOURCE } from './envelope.ts';
import { failure, problemOf, SwitchyardError } from './errors.ts';
import type { CloudEvent, EventInput, EventMap } from './events.ts';
import { backoffDelay, retryableStatus, retryAfterMs } from './retry.ts';
import type { components } from './schema.ts';
import { MALFORMED_WHSEC, signWebhook, whsecBytes } from './signing.ts';
import { utf8 } from './encoding.ts';

export type IngestAccepted = components['schemas']['IngestAccepted'];
/** A single event a tenant transformer dropped: answered 200, nothing stored. */
export interface IngestDropped {
  dropped: true;
  detail: string;
}
export type SendResult = IngestAccepted | IngestDropped;
/** One event of a batch, in input order: accepted (202), dropped (200) or refused (4xx, with the problem's code). */
export type BatchItemResult =
  | ({ status: 202 } & IngestAccepted)
  | ({ status: 200 } & IngestDropped)
  | { status: number; code: string; detail: string; errors?: components['schemas']['Problem']['errors'] };
export interface BatchResult {
  results: BatchItemResult[];
}

export interface Producer<Events extends object = EventMap> {
  /** Sends one event; resolves once it is durable (202) or was dropped by a transformer. */
  send(event: EventInput<Events>): Promise<SendResult>;
  /**
   * Sends events as CloudEvents batches (split into requests of at most 1,000 events and 1 MB, sent in
   * order); resolves with one result per event, in input order. A refused event does not fail the others.
   */
  sendBatch(events: readonly EventInput<Events>[]): Promise<BatchResult>;
}

export interface RetryInfo {
  /** 1 for the first retry. */
  retry: number;
  delayMs: number;
  /** The status that caused it, or `network_error` / `timeout`. */
  reason: string;
}

export interface ProducerOptions {
  /** The source's `ingest_url` (`POST /v1/tenants/{t}/sources` returns it). */
  ingestUrl: string;
  /** The source's `whsec_…` secret. */
  secret: string;
  /** CloudEvents `source` of events that name none; default "switchyard/client". */
  source?: string;
  fetch?: (input: string, init: RequestInit) => Promise<Response>;
  /** Retries after the first try; default 5. */
  retries?: number;
  /** Per try; default 10,000 ms. */
  timeoutMs?: number;
  /** Backoff base; default 200 ms (then up to 400, 800, … before jitter). */
  backoffMs?: number;
  /** Longest wait between tries, for backoff and for `Retry-After` alike; default 30,000 ms. */
  maxDelayMs?: number;
  onRetry?: (info: RetryInfo) => void;
}

export const SINGLE = 'application/cloudevents+json';
export const BATCH = 'application/cloudevents-batch+json';
const MAX_BATCH_EVENTS = 1000;
// the runtime refuses bodies over 1 MiB; JSON's commas and brackets fit in the margin
const MAX_BATCH_BYTES = 1_000_000;

/** Throws a `TypeError` at once for an `ingestUrl` that is no URL or a `secret` that is no `whsec_` secret: no request could succeed. */
export function createProducer<Events extends object = EventMap>(options: ProducerOptions): Producer<Events> {
  new URL(options.ingestUrl);
  if (!whsecBytes(options.secret)) throw new TypeError(MALFORMED_WHSEC);
  const source = options.source ?? DEFAULT_SOURCE;
  const post = poster(options);
  return {
    async send(event) {
      const cloudEvent = toCloudEvent(event, source);
      // in binary mode the runtime binds ce-id to webhook-id; using the event id here keeps one rule for both
      return (await post(cloudEvent.id, SINGLE, JSON.stringify(cloudEvent))) as SendResult;
    },
    async sendBatch(events) {
      const results: BatchItemResult[] = [];
      for (const chunk of chunks(events.map((event) => JSON.stringify(toCloudEvent(event, source))))) {
        const answer = (await post(`batch_${crypto.randomUUID()}`, BATCH, `[${chunk.join(',')}]`)) as BatchResult;
        results.push(...answer.results);
      }
      return { results };
    },
  };
}

function poster(options: ProducerOptions): (messageId: string, contentType: string, body: string) => Promise<unknown> {
  const fetcher = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const retries = options.retries ?? 5;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const backoffMs = options.backoffMs ?? 200;
  const maxDelayMs = options.maxDelayMs ?? 30_000;
  return async (messageId, contentType, text) => {
    const body = utf8(text);
    for (let attempt = 1; ; attempt++) {
      let delayMs = backoffDelay(attempt - 1, backoffMs, maxDelayMs);
      let reason: string;
      const signature = await signWebhook({ id: messageId, body, secrets: options.secret });
      try {
        const response = await fetcher(options.ingestUrl, {
          method: 'POST',
          headers: { 'content-type': contentType, ...signature },
          body,
          signal: AbortSignal.timeout(timeoutMs),
        });
        const answer = await response.text();
        if (response.ok) return JSON.parse(answer);
        const problem = problemOf(response.status, answer);
        if (!retryableStatus(response.status) || attempt > retries) throw new SwitchyardError(problem, attempt);
        const after = retryAfterMs(response.headers.get('retry-after'), Date.now());
        if (after !== null) delayMs = Math.min(after, maxDelayMs);
        reason = String(response.status);
      } catch (error) {
        if (error instanceof SwitchyardError) throw error;
        // a 2xx whose body is not JSON did reach the runtime: sending it again would not help
        if (error instanceof SyntaxError) throw new SwitchyardError(failure('invalid_response', `the runtime's answer is not JSON: ${error.message}`), attempt);
        const timedOut = error instanceof DOMException && error.name === 'TimeoutError';
        const code = timedOut ? 'timeout' : 'network_error';
        if (attempt > retries) {
          throw new SwitchyardError(failure(code, `${describe(error)} (after ${attempt} ${attempt === 1 ? 'try' : 'tries'})`), attempt, { cause: error });
        }
        reason = code;
      }
      options.onRetry?.({ retry: attempt, delayMs, reason });
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  };
}

/** Encoded events grouped into requests the runtime accepts: at most 1,000 events and about 1 MB each. */
function chunks(encoded: string[]): string[][] {
  const out: string[][] = [];
  let current: string[] = [];
  let bytes = 0;
  for (const event of encoded) {
    const size = utf8Length(event) + 1;
    if (current.length > 0 && (current.length === MAX_BATCH_EVENTS || bytes + size > MAX_BATCH_BYTES)) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(event);
    bytes += size;
  }
  if (current.length > 0) out.push(current);
  return out;
}

function utf8Length(text: string): number {
  let bytes = text.length;
  // every code unit above 0x7f takes one or two bytes more; a surrogate pair (4 bytes) is two units of +1
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit > 0x7f) bytes += unit > 0x7ff && (unit < 0xd800 || unit > 0xdfff) ? 2 : 1;
  }
  return bytes;
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
  return `${error.message}${cause}`;
}

export type { CloudEvent };
