/**
 * CloudEvents 1.0 in its three HTTP modes: structured (`application/cloudevents+json`), batch
 * (`application/cloudevents-batch+json`) and binary (`ce-*` headers, the body is `data`).
 * Returns plain results; nothing here throws for a client's mistake. An event is refused unless
 * Postgres can store it: `data` nested at most MAX_DATA_DEPTH levels, at most MAX_EVENT_BYTES of
 * JSON, no NUL or unpaired surrogate (see limits.ts).
 */
import { z } from 'zod';
import type { Problem } from '../lib/problem';
import { issuesToErrors, problem } from '../lib/problem';
import { toBase64 } from '../lib/encoding';
import { isTracestate, parseTraceparent } from '../lib/trace-context';
import { hasUnstorableEscape } from '../lib/storable';
import { PRIORITIES, priorityOf } from '../lib/priority';
import { inexactIntegerIn, longerThanBytes, MAX_DATA_DEPTH, MAX_EVENT_BYTES, nonFiniteNumberAt, unstorableData } from './limits';
import { errorMessage } from '../lib/errors';
import { MAX_DELAY_SECONDS } from '../lib/deliver-at';

export const MAX_BATCH = 1000;
/** Dot-notation: two or more segments, e.g. `orders.created`, `com.github.push`. */
export const EVENT_TYPE = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)+$/;
const EXTENSION_NAME = /^[a-z0-9]{1,20}$/;

/** `switchyard.*` is the system events' namespace (any case): producers and transformers may not use it. */
export function isReservedType(type: string): boolean {
  return type.slice(0, 11).toLowerCase() === 'switchyard.';
}

const timestamp = z.iso.datetime({ offset: true }).refine((t) => {
  // the format has a 4-digit year and an offset under a day, which moves the UTC year by one at most:
  // only the first and last years need the date worked out (a Date per event was 0.3 µs of ingest)
  const written = Number(t.slice(0, 4));
  if (written > 1 && written < 9999) return true;
  const year = new Date(t).getUTCFullYear();
  return year >= 1 && year <= 9999;
}, 'time is out of range');

export const cloudEventSchema = z
  .object({
    specversion: z.literal('1.0', { error: 'specversion must be "1.0"' }),
    id: z.string().min(1).max(256),
    source: z.string().min(1).max(1024),
    type: z
      .string()
      .max(256)
      .regex(EVENT_TYPE, 'type must be dot-notation, e.g. "orders.created"')
      .refine((type) => !isReservedType(type), 'types starting with "switchyard." are reserved for the events Switchyard itself emits'),
    subject: z.string().max(1024).optional(),
    time: timestamp.optional(),
    datacontenttype: z.string().max(256).optional(),
    dataschema: z.string().max(1024).optional(),
    data: z.unknown().optional(),
    data_base64: z
      .string()
      .regex(/^[A-Za-z0-9+/]*={0,2}$/, 'data_base64 must be base64 (RFC 4648, standard alphabet)')
      .refine((text) => text.length % 4 === 0, 'data_base64 must be padded base64: its length is a multiple of 4')
      .optional(),
  })
  .catchall(z.union([z.string().max(1024), z.number(), z.boolean()], { error: 'extension attributes must be strings, numbers or booleans' }))
  .superRefine((event, ctx) => {
    for (const key of Object.keys(event)) {
      if (!(key in cloudEventSchema.shape) && !EXTENSION_NAME.test(key)) {
        ctx.addIssue({ code: 'custom', path: [key], message: 'extension attribute names are 1-20 lowercase letters or digits' });
      }
    }
    if (event.data !== undefined && event.data_base64 !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['data_base64'], message: 'data and data_base64 are mutually exclusive' });
    }
    // the CloudEvents distributed-tracing extension: W3C Trace Context values
    if (event.traceparent !== undefined && !parseTraceparent(event.traceparent)) {
      ctx.addIssue({
        code: 'custom',
        path: ['traceparent'],
        message:
          'traceparent must be a W3C trace context: 00-<32 hex trace id>-<16 hex span id>-<2 hex flags> in lowercase, ids not all zero (a later version than 00 may add "-…" after them)',
      });
    }
    // the delivery lane (src/delivery/lanes.ts)
    if (event.priority !== undefined && priorityOf(event.priority) === null) {
      ctx.addIssue({ code: 'custom', path: ['priority'], message: `priority must be one of ${PRIORITIES.join(', ')}` });
    }
    if (event.tracestate !== undefined && (event.traceparent === undefined || !isTracestate(event.tracestate))) {
      ctx.addIssue({ code: 'custom', path: ['tracestate'], message: 'tracestate goes with a traceparent and is at most 512 printable ASCII characters' });
    }
    // optimistic concurrency per subject, decided by the TenantLog (subject-head-store.ts)
    if (event.expectedsequence !== undefined) {
      if (expectedSequenceOf(event.expectedsequence) === null) {
        ctx.addIssue({
          code: 'custom',
          path: ['expectedsequence'],
          message: 'expectedsequence must be a non-negative integer up to 2^53 - 1, as a number or a string of digits',
        });
      } else if (event.subject === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['expectedsequence'],
          message: "expectedsequence is checked against the subject's last sequence, so the event needs a subject",
        });
      }
    }
  });

export type CloudEvent = z.infer<typeof cloudEventSchema>;

/** A validated event ready for the TenantLog: the stored JSON plus the attributes we index. */
export interface IngestEvent {
  event: CloudEvent;
  json: string;
  partitionKey: string | null;
  correlationId: string | null;
  causationId: string | null;
  /** `expectedsequence`: accepted only if the subject's last sequence equals it (0: no event for the subject yet). */
  expectedSequence: number | null;
}

/** The `expectedsequence` extension's value: a non-negative safe integer, sent as a number or a string of digits; else null. */
export function expectedSequenceOf(value: unknown): number | null {
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^(0|[1-9][0-9]{0,15})$/.test(value) ? Number(value) : Number.NaN;
  return Number.isSafeInteger(n) && n >= 0 ? n : null;
}

export type ItemResult = { ok: true; value: IngestEvent } | { ok: false; problem: Problem };

export type Envelope = { mode: 'single'; item: ItemResult } | { mode: 'batch'; items: ItemResult[] } | { mode: 'invalid'; problem: Problem };

// jsonb refuses NUL and unpaired surrogates; an odd run of backslashes before \u means a real escape

export function toIngestEvent(input: unknown): ItemResult {
  const parsed = cloudEventSchema.safeParse(input);
  if (!parsed.success) {
    const errors = issuesToErrors(parsed.error.issues);
    return { ok: false, problem: problem(422, 'invalid_event', 'the event is not a valid CloudEvent 1.0', { errors }) };
  }
  const event = parsed.data;
  const deliverAt = deliverAtProblem(event.deliverat, Date.now());
  if (deliverAt) return { ok: false, problem: problem(422, 'invalid_deliverat', deliverAt, { errors: [{ pointer: '/deliverat', detail: deliverAt }] }) };
  // before JSON.stringify, which would throw a RangeError on deep nesting
  const unstorable = unstorableData(event.data, MAX_DATA_DEPTH);
  if (unstorable === 'too_deep') {
    const detail = `data nests deeper than ${MAX_DATA_DEPTH} levels of objects and arrays, the limit`;
    return { ok: false, problem: problem(422, 'event_too_deep', detail, { errors: [{ pointer: '/data', detail }] }) };
  }
  if (unstorable === 'non_finite') {
    const detail = 'a number beyond ±1.7976931348623157e308 (a double) cannot be stored; send it as a string';
    const pointer = nonFiniteNumberAt(event.data) ?? '/data';
    return { ok: false, problem: problem(422, 'invalid_event', `the event is not storable: ${detail}`, { errors: [{ pointer, detail }] }) };
  }
  let json: string;
  try {
    json = JSON.stringify(event);
  } catch (error) {
    // only a transformer can hand over values JSON has no form for (a cycle, a BigInt)
    return { ok: false, problem: problem(422, 'invalid_event', `the event cannot be written as JSON: ${errorMessage(error)}`) };
  }
  if (longerThanBytes(json, MAX_EVENT_BYTES)) {
    return { ok: false, problem: problem(422, 'event_too_large', `the event takes more than ${MAX_EVENT_BYTES} bytes as stored JSON, the limit per event`) };
  }
  if (hasUnstorableEscape(json)) {
    return { ok: false, problem: problem(422, 'invalid_event', 'strings may not contain NUL characters or unpaired UTF-16 surrogates') };
  }
  const ext = (name: string) => (event[name] === undefined ? null : String(event[name]));
  return {
    ok: true,
    value: {
      event,
      json,
      partitionKey: ext('partitionkey'),
      correlationId: ext('correlationid'),
      causationId: ext('causationid'),
      expectedSequence: event.expectedsequence === undefined ? null : expectedSequenceOf(event.expectedsequence),
    },
  };
}

const RFC3339 = z.iso.datetime({ offset: true });

/** What is wrong with a `deliverat` extension (README "Delayed delivery"): not an RFC 3339 time, or more than 30 days ahead; null when fine or absent. */
function deliverAtProblem(value: unknown, now: number): string | null {
  if (value === undefined) return null;
  const at = typeof value === 'string' && RFC3339.safeParse(value).success ? Date.parse(value) : Number.NaN;
  if (!Number.isFinite(at)) return 'deliverat must be an RFC 3339 time with an offset, e.g. "2026-01-31T09:00:00Z"';
  if (at - now > MAX_DELAY_SECONDS * 1000) return `deliverat may be at most ${MAX_DELAY_SECONDS / 86_400} days ahead`;
  return null;
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false; problem: Problem } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { ok: false, problem: problem(400, 'malformed_json', `the body is not valid JSON: ${errorMessage(error)}`) };
  }
  const inexact = inexactIntegerIn(text);
  if (inexact) {
    const detail = `the integer ${inexact.length > 40 ? `${inexact.slice(0, 40)}…` : inexact} is beyond ±2^53, where JSON numbers lose digits, so it would not be stored as sent; send it as a string`;
    return { ok: false, problem: problem(422, 'invalid_event', detail) };
  }
  return { ok: true, value };
}

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

function decodeText(body: Uint8Array): string | null {
  try {
    return decoder.decode(body);
  } catch {
    return null;
  }
}

function mediaType(contentType: string | null): string {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase();
}

export function isJsonMediaType(type: string): boolean {
  return type === 'application/json' || type.endsWith('+json');
}

/** Reads the envelope of an ingest request whose body has already been size-checked. */
export function readEnvelope(headers: Headers, body: Uint8Array): Envelope {
  const type = mediaType(headers.get('content-type'));
  if (headers.has('ce-specversion')) return { mode: 'single', item: readBinary(headers, type, body) };
  if (type !== 'application/cloudevents+json' && type !== 'application/cloudevents-batch+json') {
    return {
      mode: 'invalid',
      problem: problem(
        415,
        'unsupported_media_type',
        `content type "${type || '(none)'}" is not accepted here; send application/cloudevents+json, application/cloudevents-batch+json, or a binary-mode CloudEvent with ce-* headers`,
      ),
    };
  }
  const text = decodeText(body);
  if (text === null) return { mode: 'invalid', problem: problem(400, 'malformed_json', 'the body is not valid UTF-8') };
  const json = parseJson(text);
  if (!json.ok) return { mode: 'invalid', problem: json.problem };
  if (type === 'application/cloudevents+json') return { mode: 'single', item: toIngestEvent(json.value) };
  if (!Array.isArray(json.value)) {
    return { mode: 'invalid', problem: problem(422, 'invalid_batch', 'a batch must be a JSON array of CloudEvents') };
  }
  if (json.value.length === 0 || json.value.length > MAX_BATCH) {
    return { mode: 'invalid', problem: problem(422, 'invalid_batch', `a batch holds 1 to ${MAX_BATCH} events; this one has ${json.value.length}`) };
  }
  return { mode: 'batch', items: json.value.map(toIngestEvent) };
}

function readBinary(headers: Headers, type: string, body: Uint8Array): ItemResult {
  const attributes: Record<string, unknown> = {};
  headers.forEach((value, name) => {
    if (name.startsWith('ce-')) attributes[name.slice(3)] = safeDecodeURIComponent(value);
  });
  if (type) attributes.datacontenttype = headers.get('content-type');
  if (body.length > 0) {
    if (isJsonMediaType(type)) {
      const text = decodeText(body);
      if (text === null) return { ok: false, problem: problem(400, 'malformed_json', 'the body is not valid UTF-8') };
      const json = parseJson(text);
      if (!json.ok) return json;
      attributes.data = json.value;
    } else if (type.startsWith('text/')) {
      const text = decodeText(body);
      if (text === null) return { ok: false, problem: problem(400, 'malformed_body', 'a text/* body must be valid UTF-8') };
      attributes.data = text;
    } else {
      attributes.data_base64 = toBase64(body);
    }
  }
  return toIngestEvent(attributes);
}

function safeDecodeURIComponent(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
