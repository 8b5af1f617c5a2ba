/**
 * The resume point of a live stream (`since_sequence`, or SSE's Last-Event-ID): one sequence, or for a
 * multi-shard tenant a comma list of per-shard last sequences, each naming its shard
 * (`floor(sequence / 10^13)`). A shard the list leaves out starts at its beginning, so one old number
 * still works. The stream mux writes the same list as each event's SSE `id:` (shards still at their
 * beginning left out) and as `ready`'s `cursor`.
 */
import { SEQUENCE_STRIDE, shardOfSequence } from '../tenancy/shard-routing';

export const MAX_CURSOR_ENTRIES = 64;
const SEQUENCE = /^\d{1,15}$/;

/** Last sequence per shard. */
export type StreamCursor = Map<number, number>;

export type ParsedCursor = { ok: true; cursor: StreamCursor } | { ok: false; detail: string };

/**
 * Parses a resume point for a tenant with `shards` shards. A single sequence on a 1-shard tenant is
 * taken as it always was (whatever shard it names: past the head means live from the head).
 */
export function parseStreamCursor(text: string, shards: number): ParsedCursor {
  const entries = text.split(',');
  if (entries.length > MAX_CURSOR_ENTRIES) return { ok: false, detail: `at most ${MAX_CURSOR_ENTRIES} sequences, one per shard` };
  const cursor: StreamCursor = new Map();
  for (const entry of entries) {
    if (!SEQUENCE.test(entry)) return { ok: false, detail: 'a sequence (an integer from 0), or a comma-separated list of one per shard' };
    const sequence = Number(entry);
    const shard = shardOfSequence(sequence);
    if (shards === 1 && entries.length === 1) return { ok: true, cursor: new Map([[0, sequence]]) };
    if (shard >= shards) return { ok: false, detail: `${entry} is a sequence of shard ${shard}, and the tenant has ${shards} shard(s)` };
    if (cursor.has(shard)) return { ok: false, detail: `two sequences of shard ${shard}` };
    cursor.set(shard, sequence);
  }
  return { ok: true, cursor };
}

/** Where shard `shard`'s stream starts: after the cursor's sequence for it, else at the shard's beginning. */
export function shardSince(cursor: StreamCursor, shard: number): number {
  return Math.max(cursor.get(shard) ?? 0, shard * SEQUENCE_STRIDE);
}

/** The list form: shards still at their beginning left out; `0` (everything) when all are. */
export function formatStreamCursor(cursor: StreamCursor): string {
  const kept = [...cursor].filter(([shard, sequence]) => sequence > shard * SEQUENCE_STRIDE).sort(([a], [b]) => a - b);
  return kept.length === 0 ? '0' : kept.map(([, sequence]) => sequence).join(',');
}
