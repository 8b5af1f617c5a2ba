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

/** Where a replay has got to: the last event it passed, by sequence, and by position when it walks by position. */
export interface ReplayCursor {
  sequence: number;
  /** That event's `received_at` (Unix ms); null when the replay walks by sequence. */
  receivedMs: number | null;
}

export type ReplayChunk =
  | {
      kind: 'events';
      events: StoredEvent[];
      cursor: ReplayCursor;
      done: boolean;
      restored: number;
      /** Walking by position, the events that are left are not all stored yet (a shard's outbox is behind): ask again shortly. */
      behind?: boolean;
    }
  | { kind: 'failed'; error: string };

/**
 * A walk in `(received_at, sequence)` order, for a tenant with more than one shard: read only up to
 * `horizonMs`, before which every shard has stored all it acknowledged (the events API's horizon), and
 * done once that horizon reached `targetMs` (the replay's creation, or its `to` if earlier) and a chunk came short.
 */
export interface PositionWalk {
  horizonMs: number;
  targetMs: number;
}

/**
 * The next chunk of a replay's events after its cursor, at most `limit`: in sequence order, or with
 * `walk` in `(received_at, sequence)` order. When the replay has a `from` and an archived part that
 * Postgres no longer holds lies within the chunk, the part is restored first: by sequence the chunk
 * then ends with it; by position the chunk is empty and the next step reads again from the same
 * cursor, the part's events now in their places (a part of a sharded tenant spans its day's shards).
 */
export async function nextReplayChunk(db: Db, archive: R2Bucket, replay: ReplayRow, limit: number, walk?: PositionWalk): Promise<ReplayChunk> {
  if (walk) return nextPositionChunk(db, archive, replay, limit, walk);
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
  const bySequence = (sequence: number): ReplayCursor => ({ sequence, receivedMs: null });
  if (!part) return { kind: 'events', events, cursor: bySequence(events.at(-1)?.sequence ?? replay.cursor_sequence), done: !full, restored: 0 };
  const restored = await restorePart(db, archive, tenantId, replay.id, part);
  if (restored.kind !== 'restored') return { kind: 'failed', error: restored.detail };
  // up to the part's end: a later missing part is the next step's
  const within = (await listEvents(db, tenantId, range)).filter((e) => e.sequence <= part.seq_to);
  const cursor = within.length === limit ? within.at(-1)!.sequence : Math.max(replay.cursor_sequence, part.seq_to);
  return { kind: 'events', events: within, cursor: bySequence(cursor), done: false, restored: restored.events };
}

async function nextPositionChunk(db: Db, archive: R2Bucket, replay: ReplayRow, limit: number, walk: PositionWalk): Promise<ReplayChunk> {
  const tenantId = replay.tenant_id;
  const at: ReplayCursor = { sequence: replay.cursor_sequence, receivedMs: replay.cursor_received_ms };
  const after = at.receivedMs === null ? undefined : { receivedAtMs: at.receivedMs, sequence: at.sequence };
  const events = await listEvents(db, tenantId, {
    after: replay.filter.from,
    before: replay.filter.to,
    position: { horizonMs: walk.horizonMs, ...(after ? { after } : {}) },
    limit,
  });
  const full = events.length === limit;
  const window = { afterMs: at.receivedMs, uptoMs: full ? events.at(-1)!.received_ms! : walk.horizonMs, from: replay.filter.from, to: replay.filter.to };
  const part = !replay.filter.from ? null : await nextMissingPart(db, tenantId, window);
  if (part) {
    const restored = await restorePart(db, archive, tenantId, replay.id, part);
    if (restored.kind !== 'restored') return { kind: 'failed', error: restored.detail };
    // the walk reads this stretch again, so a part that came back short would be restored again and again
    const again = await nextMissingPart(db, tenantId, window);
    if (again?.key === part.key) return { kind: 'failed', error: `the archive object ${part.key} did not put all its ${part.count} events back` };
    return { kind: 'events', events: [], cursor: at, done: false, restored: restored.events };
  }
  const last = events.at(-1);
  const cursor = last ? { sequence: last.sequence, receivedMs: last.received_ms! } : at;
  const caughtUp = walk.horizonMs >= walk.targetMs;
  return { kind: 'events', events, cursor, done: !full && caughtUp, restored: 0, ...(!full && !caughtUp ? { behind: true } : {}) };
}
