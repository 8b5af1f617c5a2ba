/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/) for events: the producer's `traceparent`
 * (from the CloudEvents distributed-tracing extension or the ingest request's header) is kept with the
 * event, and every outbound delivery carries a child of it (same trace id, a span id of its own), so a
 * receiver's trace joins the producer's. An event that arrives without one starts a trace.
 */
import { toHex } from './encoding';

export interface TraceParent {
  traceId: string;
  spanId: string;
  flags: string;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
/** A later version: the fields of version 00 first, then either the end or a dash and whatever that version adds. */
const LATER_TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:-|$)/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);
/** The spec's limit: 32 list members of at most 256 characters; printable ASCII without line breaks. */
const TRACESTATE = /^[\x20-\x7e]{0,512}$/;

/**
 * A `traceparent`, or null when it is not one (all-zero ids included). Version 00 is exactly its 55
 * characters. A later version is read as the specification's versioning rules say (§3.2.4): its
 * first 55 characters as version 00's fields, followed by the end or a dash, and of its flags only
 * the sampled bit, whose meaning the version cannot have changed; the child Switchyard sends is a
 * version 00. Version ff is invalid.
 */
export function parseTraceparent(value: unknown): TraceParent | null {
  if (typeof value !== 'string') return null;
  const exact = TRACEPARENT.exec(value);
  const later = exact ? null : LATER_TRACEPARENT.exec(value);
  if (later && (later[1] === '00' || later[1] === 'ff')) return null;
  const [traceId, spanId, flags] = exact ? exact.slice(1) : later ? later.slice(2) : [];
  if (!traceId || !spanId || !flags || traceId === ZERO_TRACE || spanId === ZERO_SPAN) return null;
  const sampled = Number.parseInt(flags, 16) & 1;
  return { traceId, spanId, flags: exact ? flags : `0${sampled}` };
}

export function isTracestate(value: unknown): value is string {
  return typeof value === 'string' && TRACESTATE.test(value);
}

export function formatTraceparent(parent: TraceParent): string {
  return `00-${parent.traceId}-${parent.spanId}-${parent.flags}`;
}

function randomHex(bytes: number): string {
  for (;;) {
    const hex = toHex(crypto.getRandomValues(new Uint8Array(bytes)));
    if (/[^0]/.test(hex)) return hex;
  }
}

/** A new trace, sampled (Switchyard is its root). */
export function newTraceparent(): TraceParent {
  return { traceId: randomHex(16), spanId: randomHex(8), flags: '01' };
}

/** The same trace with a span id of its own: what one outbound delivery attempt carries. */
export function childTraceparent(parent: TraceParent): TraceParent {
  return { ...parent, spanId: randomHex(8) };
}
