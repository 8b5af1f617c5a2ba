import { childTraceparent, formatTraceparent, isTracestate, parseTraceparent } from '../../lib/trace-context';

/**
 * The W3C Trace Context headers of one outbound request for `event`: a `traceparent` that is a child
 * of the event's (same trace id, a new span id, same flags) and the event's `tracestate`; none when the
 * event carries no valid trace context.
 */
export function traceHeaders(event: object): Record<string, string> {
  const { traceparent, tracestate } = event as { traceparent?: unknown; tracestate?: unknown };
  const parent = parseTraceparent(traceparent);
  if (!parent) return {};
  const headers: Record<string, string> = { traceparent: formatTraceparent(childTraceparent(parent)) };
  if (isTracestate(tracestate) && tracestate !== '') headers.tracestate = tracestate;
  return headers;
}
