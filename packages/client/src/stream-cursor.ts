/**
 * Where a reader of the live stream is: the last sequence it processed per shard. A sequence names its
 * shard (`floor(sequence / 10^13)`), and on a tenant with more than one shard the merged stream is in
 * `(received_at, sequence)` order, so `sequence` is not monotonic across it: an event is new iff its
 * sequence is above its own shard's last. The resume point (`since_sequence`) is the comma list of the
 * per-shard lasts; for a 1-shard tenant that is one number, as it always was.
 */

export const SEQUENCE_STRIDE = 10 ** 13;
const LIST = /^\d{1,15}(,\d{1,15})*$/;

export const shardOfSequence = (sequence: number): number => Math.floor(sequence / SEQUENCE_STRIDE);

export interface StreamCursor {
  /** True iff `sequence` is after the last one of its shard (or its shard has none yet). */
  isNew(sequence: number): boolean;
  /** Moves each named shard forward (never back): a sequence, or a list (`ready.cursor`, an SSE id). */
  advance(position: number | string): void;
  /** The `since_sequence` value: one number per shard seen, by shard; null before anything was seen. */
  since(): string | null;
}

/** True for a resume point the stream accepts: a sequence or a comma list of them. */
export const isStreamPosition = (text: string): boolean => LIST.test(text);

/** A cursor starting at `position` (a sequence, a comma list of per-shard ones, or null: nothing yet). */
export function streamCursor(position: number | string | null = null): StreamCursor {
  const last = new Map<number, number>();
  const cursor: StreamCursor = {
    isNew: (sequence) => sequence > (last.get(shardOfSequence(sequence)) ?? -1),
    advance(position) {
      const sequences = typeof position === 'number' ? [position] : position.split(',').map(Number);
      for (const sequence of sequences) {
        if (!Number.isSafeInteger(sequence) || sequence < 0) continue;
        const shard = shardOfSequence(sequence);
        last.set(shard, Math.max(last.get(shard) ?? 0, sequence));
      }
    },
    since: () =>
      last.size === 0
        ? null
        : [...last]
            .sort(([a], [b]) => a - b)
            .map(([, sequence]) => sequence)
            .join(','),
  };
  if (position !== null) cursor.advance(position);
  return cursor;
}
