/**
 * What the archive holds in R2, per tenant and UTC day of `received_at`:
 * - `tenants/{t}/events/{YYYY-MM-DD}/{part}.ndjson.gz`: gzip NDJSON, one event per line in sequence
 *   order, each line the event exactly as `GET /v1/tenants/{t}/events/{id}` renders it;
 * - `tenants/{t}/events/{YYYY-MM-DD}/manifest.json`: the day's figures and every part's SHA-256.
 * Rules a reader would not guess: the API's rendering puts Switchyard's `sequence` and `sha256` over
 * a producer extension of the same name; a line keeps such producer values in `shadowed_attributes`
 * (an underscore name no CloudEvents extension can have), so a restore gives back the event as stored.
 */
import type { ArchivePart } from '../db/archives';
import type { StoredEvent } from '../db/events';
import { presentEvent } from '../durable/stream-render';

export const ARCHIVE_FORMAT = 'switchyard.archive.v1';

/** Attributes of the API's rendering that can hide a producer extension of the same name. */
const SHADOWING = ['sequence', 'sha256'] as const;

export const partKey = (tenantId: string, day: string, part: number) => `tenants/${tenantId}/events/${day}/${String(part).padStart(4, '0')}.ndjson.gz`;
export const manifestKey = (tenantId: string, day: string) => `tenants/${tenantId}/events/${day}/manifest.json`;

/**
 * One NDJSON line (no newline) for a stored event. Besides the API's rendering it may carry
 * `shadowed_attributes` and `schema_version` (the version of the type's schema the event was validated
 * against, absent when none was): underscore names, which no CloudEvents attribute can have.
 */
export function archiveLine(stored: StoredEvent): string {
  const shadowed = Object.fromEntries(SHADOWING.filter((name) => Object.hasOwn(stored.event, name)).map((name) => [name, stored.event[name]]));
  const line: Record<string, unknown> = presentEvent(stored);
  if (Object.keys(shadowed).length > 0) line.shadowed_attributes = shadowed;
  if (stored.schema_version != null) line.schema_version = stored.schema_version;
  return JSON.stringify(line);
}

export interface Manifest {
  format: typeof ARCHIVE_FORMAT;
  tenant_id: string;
  day: string;
  count: number;
  sequence: { from: number; to: number };
  received_at: { from: string; to: string };
  bytes: number;
  raw_bytes: number;
  parts: {
    part: number;
    key: string;
    count: number;
    sequence: { from: number; to: number };
    received_at: { from: string; to: string };
    sha256: string;
    bytes: number;
    raw_bytes: number;
    created_at: string;
  }[];
}

/** The manifest of a day from its recorded parts (at least one). */
export function buildManifest(tenantId: string, day: string, parts: readonly ArchivePart[]): Manifest {
  const sum = (pick: (p: ArchivePart) => number) => parts.reduce((n, p) => n + pick(p), 0);
  return {
    format: ARCHIVE_FORMAT,
    tenant_id: tenantId,
    day,
    count: sum((p) => p.count),
    sequence: { from: Math.min(...parts.map((p) => p.seq_from)), to: Math.max(...parts.map((p) => p.seq_to)) },
    received_at: {
      from: parts.map((p) => p.received_from).sort()[0]!,
      to: parts
        .map((p) => p.received_to)
        .sort()
        .at(-1)!,
    },
    bytes: sum((p) => p.bytes),
    raw_bytes: sum((p) => p.raw_bytes),
    parts: parts.map((p) => ({
      part: p.part,
      key: p.key,
      count: p.count,
      sequence: { from: p.seq_from, to: p.seq_to },
      received_at: { from: p.received_from, to: p.received_to },
      sha256: p.sha256,
      bytes: p.bytes,
      raw_bytes: p.raw_bytes,
      created_at: p.created_at,
    })),
  };
}
