/**
 * The one form an event has in the API: `GET /events/{id}`, the events list and the live stream all
 * render a {@link StoredEvent} with {@link presentEvent}, so a streamed event is the same JSON text
 * as the API's answer for it, byte for byte.
 *
 * Events that have not reached Postgres yet (the TenantLog's outbox, or an append just committed)
 * hold the producer's JSON text, whose keys are in the producer's order. Postgres stores `event` as
 * jsonb, which keeps one copy of each key (the last) and orders keys by the length of their UTF-8
 * bytes, then by those bytes; the API parses that text. {@link jsonbOrdered} gives an outbox event
 * the key order Postgres will give it, so the stream does not depend on where an event is read from.
 */
import type { StoredEvent } from '../db/events';

/** The stored CloudEvent with `id` being Switchyard's `evt_` id and the producer's own id as `ce_id`. */
export function presentEvent(stored: StoredEvent): Record<string, unknown> {
  return {
    ...stored.event,
    id: stored.id,
    ce_id: String(stored.event.id),
    sequence: stored.sequence,
    source_id: stored.source_id,
    received_at: stored.received_at,
    sha256: stored.sha256,
  };
}

/** An event read from the outbox (or just appended) as Postgres will hold it. */
export function storedFromLog(row: { id: string; sequence: number; source_id: string; received_at: number; event: string; sha256: string }): StoredEvent {
  return {
    sha256: row.sha256,
    id: row.id,
    sequence: row.sequence,
    source_id: row.source_id,
    // the API's `to_char(... 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')` of `to_timestamp(ms / 1000.0)`
    received_at: new Date(row.received_at).toISOString(),
    event: jsonbOrdered(JSON.parse(row.event)) as Record<string, unknown>,
  };
}

/** `value` with every object's keys in jsonb's order (see the module comment); arrays keep theirs. */
export function jsonbOrdered(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(jsonbOrdered);
  if (typeof value !== 'object' || value === null) return value;
  const entries = Object.entries(value);
  entries.sort(([a], [b]) => compareJsonbKeys(a, b));
  const out: Record<string, unknown> = {};
  for (const [key, inner] of entries) {
    // a plain assignment of `__proto__` would set the prototype; ingest refuses such keys, this keeps it a key regardless
    Object.defineProperty(out, key, { value: jsonbOrdered(inner), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

const ASCII = /^[\x00-\x7f]*$/;

/** Shorter UTF-8 first, then by UTF-8 bytes (which is code point order). */
export function compareJsonbKeys(a: string, b: string): number {
  if (ASCII.test(a) && ASCII.test(b)) return a.length !== b.length ? a.length - b.length : a < b ? -1 : a > b ? 1 : 0;
  const la = utf8Length(a);
  const lb = utf8Length(b);
  if (la !== lb) return la - lb;
  const ca = [...a];
  const cb = [...b];
  for (let i = 0; i < Math.min(ca.length, cb.length); i++) {
    const d = ca[i]!.codePointAt(0)! - cb[i]!.codePointAt(0)!;
    if (d !== 0) return d;
  }
  return ca.length - cb.length;
}

function utf8Length(s: string): number {
  let n = 0;
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    n += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
  }
  return n;
}
