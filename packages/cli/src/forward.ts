/**
 * What `listen` sends to `--forward-to`: the request the `webhook` action would send for the event
 * (plugins/webhook/index.ts): `POST`, the stored CloudEvent as its body (the producer's `id`, not
 * the API's `evt_` one, and none of the API's own fields), `content-type:
 * application/cloudevents+json; charset=utf-8`, Standard Webhooks headers signed with the listener's
 * secret, and a `traceparent` that is a child of the event's (plus its `tracestate`). `webhook-id` is
 * the event's `evt_` id: stable, so a receiver deduplicates a forward repeated after a crash. No
 * redirects are followed and 15 s is the limit, as for a real delivery.
 */
import { randomBytes } from 'node:crypto';
import { signWebhook } from '@switchyard/client';
import type { ApiEvent } from './stream.ts';

export const CLOUDEVENTS_JSON = 'application/cloudevents+json; charset=utf-8';
export const WEBHOOK_USER_AGENT = 'Switchyard-Webhooks/1';
const TIMEOUT_MS = 15_000;
const BODY_LIMIT = 1024;
/** Fields the API adds to the stored CloudEvent (`presentEvent` in src/durable/stream-render.ts). */
const API_FIELDS = new Set(['ce_id', 'sequence', 'source_id', 'received_at', 'sha256']);

/**
 * The stored CloudEvent back from its API form, keys in the same order: the stream renders events
 * in Postgres's key order, so this is the webhook action's body byte for byte.
 */
export function webhookBody(event: ApiEvent): string {
  const stored: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(event)) {
    if (API_FIELDS.has(key)) continue;
    stored[key] = key === 'id' ? event.ce_id : value;
  }
  return JSON.stringify(stored);
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** A child `traceparent` of the event's (same trace, new span, same flags) and its `tracestate`. */
export function traceHeaders(event: Record<string, unknown>): Record<string, string> {
  const match = typeof event.traceparent === 'string' ? TRACEPARENT.exec(event.traceparent) : null;
  if (!match || /^0+$/.test(match[1]!) || /^0+$/.test(match[2]!)) return {};
  let span: string;
  do span = randomBytes(8).toString('hex');
  while (/^0+$/.test(span));
  const headers: Record<string, string> = { traceparent: `00-${match[1]}-${span}-${match[3]}` };
  if (typeof event.tracestate === 'string' && event.tracestate !== '' && /^[\x20-\x7e]{0,512}$/.test(event.tracestate)) headers.tracestate = event.tracestate;
  return headers;
}

export interface ForwardResult {
  outcome: 'delivered' | 'failed';
  status?: number;
  error?: string;
  responseBody?: string;
  latencyMs: number;
  startedAt: string;
}

export async function forwardEvent(target: string, event: ApiEvent, secret: string, signal: AbortSignal): Promise<ForwardResult> {
  const body = webhookBody(event);
  const headers = {
    'user-agent': WEBHOOK_USER_AGENT,
    'content-type': CLOUDEVENTS_JSON,
    ...(await signWebhook({ id: event.id, body, secrets: secret })),
    ...traceHeaders(event),
  };
  const startedAt = new Date();
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  try {
    const response = await fetch(target, {
      method: 'POST',
      headers,
      body,
      redirect: 'manual',
      signal: AbortSignal.any([signal, AbortSignal.timeout(TIMEOUT_MS)]),
    });
    const text = (await response.text().catch(() => '')).slice(0, BODY_LIMIT);
    const latencyMs = elapsed();
    const ok = response.status >= 200 && response.status < 300;
    return {
      outcome: ok ? 'delivered' : 'failed',
      status: response.status,
      ...(ok ? {} : { error: `HTTP ${response.status}` }),
      ...(text ? { responseBody: text } : {}),
      latencyMs,
      startedAt: startedAt.toISOString(),
    };
  } catch (error) {
    const cause = error instanceof Error && error.cause instanceof Error ? error.cause.message : error instanceof Error ? error.message : String(error);
    const timedOut = error instanceof Error && error.name === 'TimeoutError';
    return { outcome: 'failed', error: timedOut ? `no answer within ${TIMEOUT_MS / 1000} s` : cause, latencyMs: elapsed(), startedAt: startedAt.toISOString() };
  }
}
