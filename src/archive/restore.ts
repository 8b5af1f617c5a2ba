/**
 * Restore-replay: a replay's events come from Postgres, and for any stretch of its range that the
 * retention job already deleted, from the archive. The archived part is checked against its recorded
 * SHA-256, put back into `events` (kept from the retention job for RESTORE_KEEP_SECONDS, and after that
 * while a delivery of it is pending), and the replay then reads it like any stored event: the same
 * filter rules, delivery ids and ordered lines as a normal replay.
 */
import { keepRestored, nextMissingPart, restoreArchivedLines } from '../db/archives-restore';
import type { ArchivePart } from '../db/archives';
import type { Db } from '../db/client';
import { listEvents, type StoredEvent } from '../db/events';
import type { ReplayRow } from '../db/replays';
import { sha256Hex } from '../lib/encoding';
import { gunzipLineBatches } from './ndjson-gzip';

export const RESTORE_KEEP_SECONDS = 86_400;
/** Lines per INSERT, and about as many characters at most (events may be 1.5 MiB each). */
const RESTORE_BATCH = { lines: 500, chars: 4 * 1024 * 1024 };

export type RestoreOutcome = { kind: 'restored'; events: number } | { kind: 'unavailable'; detail: string };

/** Puts the events of one archived part back into `events` (those Postgres lacks). */
export async function restorePart(db: Db, archive: R2Bucket, tenantId: string, replayId: string, part: ArchivePart): Promise<RestoreOutcome> {
  // kept before it exists, so the job cannot delete a half-restored range
  await keepRestored(db, tenantId, replayId, part, RESTORE_KEEP_SECONDS);
  const object = await archive.get(part.key);
  if (!object) return { kind: 'unavailable', detail: `the archive object ${part.key} is missing` };
  // a part is bounded (RETENTION_LIMITS): hold the compressed bytes, check them, then stream the lines
  const bytes = new Uint8Array(await object.arrayBuffer());
  if ((await sha256Hex(bytes)) !== part.sha256) return { kind: 'unavailable', detail: `the archive object ${part.key} does not match its recorded SHA-256` };
  let events = 0;
  try {
    for await (const lines of gunzipLineBatches(new Blob([bytes]).stream(), RESTORE_BATCH.lines, RESTORE_BATCH.chars))
      events += await restoreArchivedLines(db, tenantId, lines);
  } catch (error) {
    if (error instanceof TypeError) return { kind: 'unavailable', detail: `the archive object ${part.key} is not gzip NDJSON: ${error.message}` };
    throw error;
  }
  return { kind: 'restored', events };
}

export type ReplayChunk = { kind: 'events'; events: StoredEvent[]; cursor: number; done: boolean; restored: number } | { kind: 'failed'; error: string };

/**
 * The next chunk of a replay's events after its cursor, at most `limit`. When the replay has a `from`
 * and an archived part that Postgres no longer holds lies within the chunk, the part is restored first
 * and the chunk ends with it.
 */
export async function nextReplayChunk(db: Db, archive: R2Bucket, replay: ReplayRow, limit: number): Promise<ReplayChunk> {
  const tenantId = replay.tenant_id;
  const range = { afterSequence: replay.cursor_sequence, after: replay.filter.from, before: replay.filter.to, limit };
  const events = await listEvents(db, tenantId, range);
  const full = events.length === limit;
  // only a replay that names where it starts reaches into the archive: one without `from` replays what Postgres holds
  const part = !replay.filter.from
    ? null
    : await nextMissingPart(db, tenantId, {
        afterSequence: replay.cursor_sequence,
        uptoSequence: full ? events.at(-1)!.sequence : null,
        from: replay.filter.from,
        to: replay.filter.to,
      });
  if (!part) return { kind: 'events', events, cursor: events.at(-1)?.sequence ?? replay.cursor_sequence, done: !full, restored: 0 };
  const restored = await restorePart(db, archive, tenantId, replay.id, part);
  if (restored.kind !== 'restored') return { kind: 'failed', error: restored.detail };
  // up to the part's end: a later missing part is the next step's
  const within = (await listEvents(db, tenantId, range)).filter((e) => e.sequence <= part.seq_to);
  const cursor = within.length === limit ? within.at(-1)!.sequence : Math.max(replay.cursor_sequence, part.seq_to);
  return { kind: 'events', events: within, cursor, done: false, restored: restored.events };
}
