/**
 * The `delivery.attempt` span (CLIENT) of one attempt, a child of the span the event's `traceparent`
 * names (the ingest span when Switchyard started or continued the trace). Its span id is the one the
 * action put in the outbound request's `traceparent` (seen through the fetch the attempt hands the
 * guarded fetch), so the receiver's parent span is exactly this span; an attempt that sent nothing
 * (refused destination, a transformer that dropped the event) gets an id of its own.
 */
import type { ClaimedDelivery } from '../db/deliveries-consumer';
import { parseTraceparent } from '../lib/trace-context';
import { newSpanId, record, SpanKind, type SpanRecorder } from './spans';

/** What an attempt came to (src/delivery/attempt.ts `AttemptResult`, as far as the span reads it). */
export type AttemptOutcome = { kind: string; status?: number; error?: string; reason?: string };

export interface AttemptSpan {
  /** The fetch to hand the guarded fetch: it notes the outbound `traceparent`, then fetches. */
  fetchImpl: typeof fetch;
  end(result: AttemptOutcome): void;
}

/** null when spans are not exported or the event carries no trace context. */
export function startAttemptSpan(recorder: SpanRecorder | null, delivery: ClaimedDelivery): AttemptSpan | null {
  if (!recorder) return null;
  const parent = parseTraceparent(delivery.event.traceparent);
  if (!parent) return null;
  const startMs = Date.now();
  let sentSpanId: string | null = null;
  return {
    fetchImpl: (input, init) => {
      const sent = parseTraceparent(new Headers(init?.headers).get('traceparent'));
      if (sent?.traceId === parent.traceId) sentSpanId ??= sent.spanId;
      return fetch(input, init);
    },
    end(result) {
      record(recorder, {
        traceId: parent.traceId,
        spanId: sentSpanId ?? newSpanId(),
        parentSpanId: parent.spanId,
        name: 'delivery.attempt',
        kind: SpanKind.client,
        startMs,
        endMs: Date.now(),
        attributes: {
          'switchyard.tenant': delivery.tenant_id,
          'switchyard.event.id': delivery.event_id,
          'switchyard.event.type': typeof delivery.event.type === 'string' ? delivery.event.type : undefined,
          'switchyard.subscription': delivery.subscription_id,
          'switchyard.delivery.id': delivery.id,
          'switchyard.delivery.attempt': delivery.attempts,
          'switchyard.action': delivery.action_type,
          'http.response.status_code': result.status,
          'switchyard.outcome': result.kind,
        },
        ...(result.kind === 'delivered' || result.kind === 'skipped' ? {} : { error: result.error ?? result.kind }),
      });
    },
  };
}
