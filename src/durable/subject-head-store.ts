/**
 * The last sequence of each `subject` a TenantLog has appended, for optimistic concurrency: an event
 * with `expectedsequence` is accepted only when its subject's head equals it (0: no event yet).
 *
 * Every subject is tracked as it is appended, not only those that once used `expectedsequence` (a head
 * seeded on first use would not know the subject's earlier events). To stay bounded, a head untouched
 * for `SUBJECT_HEAD_IDLE_MS` whose events all reached Postgres is pruned (`pruneHeads`, from the flush
 * alarm); the table then holds the subjects active in that window, like the dedup keys hold the ids of
 * theirs. Once a log has pruned, a guarded subject without a row may have history: its head is read
 * from Postgres before the append (`max(sequence)` of its stored events, exact because pruning keeps
 * every head whose events are not all there) and handed in as a fallback. A row written meanwhile wins
 * over the fallback; a row pruned meanwhile, with no fallback, leaves the head unknown and the event is
 * refused as retryable (`sequence_unknown`) rather than guessed.
 * All functions run inside the caller's synchronous transaction.
 */

export const SUBJECT_HEAD_IDLE_MS = 30 * 86_400_000;
/** Heads pruned per flush alarm at most, so pruning never holds the object long. */
export const SUBJECT_HEAD_PRUNE_BATCH = 1_000;

export const SUBJECT_HEAD_SCHEMA = `CREATE TABLE IF NOT EXISTS subject_head (subject TEXT PRIMARY KEY, sequence INTEGER NOT NULL, touched_at INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS subject_head_state (key TEXT PRIMARY KEY, value INTEGER NOT NULL);`;

/** Adds `touched_at` to a table created before pruning existed, and the index pruning reads. */
export function upgradeSubjectHeads(sql: SqlStorage): void {
  const columns = [...sql.exec<{ name: string }>("SELECT name FROM pragma_table_info('subject_head')")].map((c) => c.name);
  if (!columns.includes('touched_at')) sql.exec('ALTER TABLE subject_head ADD COLUMN touched_at INTEGER NOT NULL DEFAULT 0');
  sql.exec('CREATE INDEX IF NOT EXISTS subject_head_touched ON subject_head (touched_at)');
}

/** Whether this log has ever pruned a head (then a missing head is not proof of "no event yet"). */
export function hasPruned(sql: SqlStorage): boolean {
  return sql.exec<{ n: number }>("SELECT count(*) AS n FROM subject_head_state WHERE key = 'pruned'").one().n > 0;
}

/** The heads of `subjects` (one statement); a subject with no row is left out. */
export function subjectHeads(sql: SqlStorage, subjects: readonly string[]): Map<string, number> {
  const heads = new Map<string, number>();
  if (subjects.length === 0) return heads;
  for (const row of sql.exec<{ subject: string; sequence: number }>(
    'SELECT h.subject, h.sequence FROM json_each(?) AS s CROSS JOIN subject_head AS h ON h.subject = s.value',
    JSON.stringify([...new Set(subjects)]),
  )) {
    heads.set(row.subject, row.sequence);
  }
  return heads;
}

/** Moves the heads of the subjects of the outbox rows after `after` (just appended) to their last row (in sequence order, no sort). */
export function advanceHeads(sql: SqlStorage, after: number, now: number): void {
  sql.exec(
    `INSERT INTO subject_head (subject, sequence, touched_at)
     SELECT subject, sequence, ? FROM outbox WHERE sequence > ? AND subject IS NOT NULL ORDER BY sequence
     ON CONFLICT (subject) DO UPDATE SET sequence = max(sequence, excluded.sequence), touched_at = excluded.touched_at`,
    now,
    after,
  );
}

/**
 * Drops up to `limit` heads untouched since `idleBefore` whose events are all in Postgres (sequence ≤
 * `flushedThrough`); returns how many. Marks the log as pruned first, so no later append trusts a
 * missing row.
 */
export function pruneHeads(sql: SqlStorage, idleBefore: number, flushedThrough: number, limit = SUBJECT_HEAD_PRUNE_BATCH): number {
  const idle = sql
    .exec<{ n: number }>('SELECT count(*) AS n FROM (SELECT 1 FROM subject_head WHERE touched_at < ? AND sequence <= ? LIMIT 1)', idleBefore, flushedThrough)
    .one().n;
  if (idle === 0) return 0;
  sql.exec("INSERT OR REPLACE INTO subject_head_state (key, value) VALUES ('pruned', 1)");
  const victims = [
    ...sql.exec<{ subject: string }>(
      'SELECT subject FROM subject_head WHERE touched_at < ? AND sequence <= ? ORDER BY touched_at LIMIT ?',
      idleBefore,
      flushedThrough,
      limit,
    ),
  ].map((r) => r.subject);
  sql.exec('DELETE FROM subject_head WHERE subject IN (SELECT value FROM json_each(?))', JSON.stringify(victims));
  return victims.length;
}
