/**
 * Spans of one TenantLog alarm. Each pass of the alarm stores a batch of outbox events in Postgres
 * (`flush`) and then sends the staged delivery messages to the queue (`fan-out`). A batch holds events
 * of many traces, so each pass records, for every distinct trace context among the events it stored, a
 * `flush` span that is a child of the span the events' `traceparent` names (the ingest span when
 * Switchyard started or continued the trace) and a `fan-out` span below it. At most
 * TRACED_EVENTS_PER_PASS events per pass are looked at (the oldest, which the flush takes first).
 */
import type { ConfigVars } from '../config';
import { parseTraceparent, type TraceParent } from '../lib/trace-context';
import { newSpanId, record, SpanKind, spanRecorder, type SpanRecorder } from './spans';

export const TRACED_EVENTS_PER_PASS = 100;
/** Event ids named on one span. */
const IDS_PER_SPAN = 20;

type OutboxTrace = { sequence: number; id: string; type: string; traceparent: string | null };

interface Group {
  parent: TraceParent;
  flushSpanId: string;
  events: OutboxTrace[];
}

export interface AlarmSpans {
  readonly recorder: SpanRecorder;
  /** Before the batch is read from the outbox. */
  flushing(): void;
  /** After the flush, before the queue messages are sent. */
  fanningOut(): void;
  /** After the queue messages were sent. */
  fannedOut(): void;
  /** The pass failed: its flush spans end with this error. */
  failed(error: unknown): void;
}

/** null when spans are not exported. */
export function alarmSpans(env: ConfigVars, sql: SqlStorage, tenantId: string | null): AlarmSpans | null {
  const recorder = spanRecorder(env);
  if (!recorder) return null;
  let pending: OutboxTrace[] = [];
  let groups: Group[] = [];
  let flushStart = 0;
  let flushEnd = 0;

  const flushSpan = (group: Group, error?: string) =>
    record(recorder, {
      traceId: group.parent.traceId,
      spanId: group.flushSpanId,
      parentSpanId: group.parent.spanId,
      name: 'flush',
      kind: SpanKind.internal,
      startMs: flushStart,
      endMs: flushEnd,
      attributes: {
        'switchyard.tenant': tenantId,
        'switchyard.events': group.events.length,
        'switchyard.event.id': group.events[0]?.id,
        'switchyard.event.type': group.events[0]?.type,
        'switchyard.event.ids': group.events
          .slice(0, IDS_PER_SPAN)
          .map((e) => e.id)
          .join(','),
        'switchyard.sequence.first': group.events[0]?.sequence,
        'switchyard.sequence.last': group.events.at(-1)?.sequence,
      },
      ...(error === undefined ? {} : { error }),
    });

  const fanOutSpan = (group: Group, end: number, error?: string) =>
    record(recorder, {
      traceId: group.parent.traceId,
      spanId: newSpanId(),
      parentSpanId: group.flushSpanId,
      name: 'fan-out',
      kind: SpanKind.producer,
      startMs: flushEnd,
      endMs: end,
      attributes: { 'switchyard.tenant': tenantId, 'switchyard.events': group.events.length, 'switchyard.event.id': group.events[0]?.id },
      ...(error === undefined ? {} : { error }),
    });

  return {
    recorder,
    flushing() {
      flushStart = Date.now();
      flushEnd = 0;
      groups = [];
      pending = sql
        .exec<OutboxTrace>(
          `SELECT sequence, id, type, json_extract(event, '$.traceparent') AS traceparent FROM outbox ORDER BY sequence LIMIT ?`,
          TRACED_EVENTS_PER_PASS,
        )
        .toArray();
    },
    fanningOut() {
      flushEnd = Date.now();
      const last = pending.at(-1);
      // what the flush took left the outbox; what it did not take is still there
      const left = new Set(
        last
          ? sql
              .exec<{ sequence: number }>('SELECT sequence FROM outbox WHERE sequence <= ?', last.sequence)
              .toArray()
              .map((r) => r.sequence)
          : [],
      );
      groups = byParent(pending.filter((e) => !left.has(e.sequence)));
      pending = [];
    },
    fannedOut() {
      const end = Date.now();
      for (const group of groups) {
        flushSpan(group);
        fanOutSpan(group, end);
      }
      groups = [];
    },
    failed(error) {
      const end = Date.now();
      if (flushEnd === 0) {
        flushEnd = end;
        for (const group of byParent(pending)) flushSpan(group, String(error));
      } else {
        for (const group of groups) {
          flushSpan(group);
          fanOutSpan(group, end, String(error));
        }
      }
      pending = [];
      groups = [];
    },
  };
}

/** Events grouped by the trace context they carry; those without one are left out. */
function byParent(events: readonly OutboxTrace[]): Group[] {
  const groups = new Map<string, Group>();
  for (const event of events) {
    const parent = parseTraceparent(event.traceparent);
    if (!parent || !event.traceparent) continue;
    const group = groups.get(event.traceparent) ?? { parent, flushSpanId: newSpanId(), events: [] };
    group.events.push(event);
    groups.set(event.traceparent, group);
  }
  return [...groups.values()];
}
