/**
 * The `ingest` span (the HTTP request, SERVER) and its `append` child (the TenantLog call, CLIENT).
 * The ingest span continues the request's `traceparent` header, or starts a trace; its own context is
 * what events without a trace context of their own are stored with, so later spans (flush, fan-out,
 * delivery attempts) and the receivers' traces hang under it.
 */
import type { ConfigVars } from '../config';
import type { IngestOutcome } from '../ingest/pipeline';
import { newTraceparent, parseTraceparent, type TraceParent } from '../lib/trace-context';
import { newSpanId, record, SpanKind, spanRecorder, type Attributes, type SpanRecorder } from './spans';

export interface IngestSpan {
  recorder: SpanRecorder;
  /** This span's context (trace id, its span id, flags). */
  context: TraceParent;
  parentSpanId: string | null;
  startMs: number;
}

/** null when spans are not exported. */
export function startIngestSpan(env: ConfigVars, headers: Headers): IngestSpan | null {
  const recorder = spanRecorder(env);
  if (!recorder) return null;
  const incoming = parseTraceparent(headers.get('traceparent'));
  return {
    recorder,
    context: incoming ? { ...incoming, spanId: newSpanId() } : newTraceparent(),
    parentSpanId: incoming?.spanId ?? null,
    startMs: Date.now(),
  };
}

/** Runs the TenantLog call as the ingest span's `append` child. */
export async function tracedAppend<T>(ingest: IngestSpan | null, attributes: Attributes, append: () => Promise<T>): Promise<T> {
  if (!ingest) return append();
  const startMs = Date.now();
  let error: string | undefined;
  try {
    return await append();
  } catch (thrown) {
    error = String(thrown);
    throw thrown;
  } finally {
    record(ingest.recorder, {
      traceId: ingest.context.traceId,
      spanId: newSpanId(),
      parentSpanId: ingest.context.spanId,
      name: 'append',
      kind: SpanKind.client,
      startMs,
      endMs: Date.now(),
      attributes,
      ...(error === undefined ? {} : { error }),
    });
  }
}

/** Records the ingest span with what the request came to; returns the recorder to export. */
export function endIngestSpan(ingest: IngestSpan, sourceId: string, tenantId: string | undefined, outcome: IngestOutcome): SpanRecorder {
  const status = outcome.kind === 'problem' ? outcome.problem.status : outcome.kind === 'single' ? outcome.result.status : 202;
  const single = outcome.kind === 'single' && outcome.result.status === 202 ? outcome.result : null;
  record(ingest.recorder, {
    traceId: ingest.context.traceId,
    spanId: ingest.context.spanId,
    parentSpanId: ingest.parentSpanId,
    name: 'ingest',
    kind: SpanKind.server,
    startMs: ingest.startMs,
    endMs: Date.now(),
    attributes: {
      'http.request.method': 'POST',
      'http.route': '/v1/ingest/{sourceId}',
      'http.response.status_code': status,
      'switchyard.tenant': tenantId,
      'switchyard.source': sourceId,
      'switchyard.event.id': single?.id,
      'switchyard.event.sequence': single?.sequence,
      'switchyard.events': outcome.kind === 'batch' ? outcome.results.length : undefined,
      'switchyard.outcome': outcome.kind === 'problem' ? outcome.problem.code : single?.duplicate ? 'duplicate' : 'accepted',
    },
    ...(status >= 500 ? { error: `answered ${status}` } : {}),
  });
  return ingest.recorder;
}
