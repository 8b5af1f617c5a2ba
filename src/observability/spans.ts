/**
 * Spans of one invocation (an ingest request, a TenantLog alarm, a queue batch), exported over
 * OTLP/HTTP as JSON when `OTEL_EXPORTER_OTLP_ENDPOINT` is set. Written here rather than taken from an
 * OpenTelemetry SDK because Switchyard must choose its span ids: the ingest span's id is written into
 * the stored event's `traceparent` before the span ends, and a delivery attempt's span id is the one
 * the action put in the outbound `traceparent` (README "Tracing" says more).
 *
 * Rules:
 * - Export never blocks or fails the work it describes: it runs after the work, under `waitUntil`,
 *   and a failure is logged once per isolate (then counted silently).
 * - Without the setting `spanRecorder` returns null and nothing is allocated or sent.
 */
import { configOf, type Config } from '../config';
import { toHex } from '../lib/encoding';

export type AttributeValue = string | number | boolean;
export type Attributes = Record<string, AttributeValue | null | undefined>;

/** OTLP `Span.SpanKind`. */
export const SpanKind = { internal: 1, server: 2, client: 3, producer: 4, consumer: 5 } as const;

export interface Span {
  traceId: string;
  spanId: string;
  /** null: the root of its trace. */
  parentSpanId: string | null;
  name: string;
  kind: (typeof SpanKind)[keyof typeof SpanKind];
  startMs: number;
  endMs: number;
  attributes: Attributes;
  /** Set: the span's status is ERROR with this message. */
  error?: string;
}

export type OtlpSettings = NonNullable<Config['otlp']>;

export interface SpanRecorder {
  readonly settings: OtlpSettings;
  readonly spans: Span[];
}

/** Spans kept per invocation; past it, the rest are dropped (and counted in the export's log line). */
export const MAX_SPANS = 512;

/** null when spans are not exported, or when the settings are malformed (configOf logs that; no flush or delivery waits on it). */
export function spanRecorder(env: Parameters<typeof configOf>[0]): SpanRecorder | null {
  let settings: OtlpSettings | null;
  try {
    settings = configOf(env).otlp;
  } catch {
    return null;
  }
  return settings ? { settings, spans: [] } : null;
}

export function newSpanId(): string {
  for (;;) {
    const hex = toHex(crypto.getRandomValues(new Uint8Array(8)));
    if (hex !== '0000000000000000') return hex;
  }
}

export function record(recorder: SpanRecorder, span: Span): void {
  if (recorder.spans.length < MAX_SPANS) recorder.spans.push(span);
}

type OtlpValue = { stringValue: string } | { intValue: string } | { doubleValue: number } | { boolValue: boolean };

function attributes(values: Attributes): { key: string; value: OtlpValue }[] {
  return Object.entries(values).flatMap(([key, value]): { key: string; value: OtlpValue }[] => {
    if (value === null || value === undefined) return [];
    if (typeof value === 'boolean') return [{ key, value: { boolValue: value } }];
    if (typeof value === 'number') return [{ key, value: Number.isInteger(value) ? { intValue: String(value) } : { doubleValue: value } }];
    return [{ key, value: { stringValue: value } }];
  });
}

const nanos = (ms: number) => `${Math.round(ms)}000000`;

/** The OTLP/HTTP JSON body (`ExportTraceServiceRequest`) for these spans. */
export function otlpPayload(spans: readonly Span[], serviceName: string): unknown {
  return {
    resourceSpans: [
      {
        resource: { attributes: attributes({ 'service.name': serviceName }) },
        scopeSpans: [
          {
            scope: { name: 'switchyard' },
            spans: spans.map((s) => ({
              traceId: s.traceId,
              spanId: s.spanId,
              ...(s.parentSpanId ? { parentSpanId: s.parentSpanId } : {}),
              name: s.name,
              kind: s.kind,
              startTimeUnixNano: nanos(s.startMs),
              endTimeUnixNano: nanos(Math.max(s.endMs, s.startMs)),
              attributes: attributes(s.attributes),
              status: s.error === undefined ? { code: 1 } : { code: 2, message: s.error },
            })),
          },
        ],
      },
    ],
  };
}

let failuresLogged = false;

/** Sends what the recorder holds; resolves in every case. Hand the promise to `waitUntil`. */
export async function exportSpans(recorder: SpanRecorder | null, fetcher: typeof fetch = fetch): Promise<void> {
  if (!recorder || recorder.spans.length === 0) return;
  const spans = recorder.spans.splice(0);
  try {
    const res = await fetcher(recorder.settings.tracesUrl, {
      method: 'POST',
      headers: { ...recorder.settings.headers, 'content-type': 'application/json' },
      body: JSON.stringify(otlpPayload(spans, recorder.settings.serviceName)),
    });
    await res.body?.cancel();
    if (!res.ok) throw new Error(`the collector answered ${res.status}`);
  } catch (error) {
    if (failuresLogged) return;
    failuresLogged = true;
    console.warn(JSON.stringify({ msg: 'span export failed (logged once per isolate)', spans: spans.length, error: String(error) }));
  }
}
