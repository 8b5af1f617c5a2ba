/**
 * The last sequence of each `subject` a TenantLog has appended, for optimistic concurrency: an event
 * with `expectedsequence` is accepted only when its subject's head equals it (0: no event yet).
 *
 * Every subject is tracked, not only those that once used `expectedsequence`: a head seeded on first
 * use would not know the subject's earlier events, so `expectedsequence: 0` would wrongly pass. So
 * the table holds one row per distinct subject (the subject, ≤ 1024 characters, and an integer): it
 * grows with the number of subjects, never with the number of events, and goes with the tenant.
 * All functions run inside the caller's synchronous transaction.
 */

export const SUBJECT_HEAD_SCHEMA = 'CREATE TABLE IF NOT EXISTS subject_head (subject TEXT PRIMARY KEY, sequence INTEGER NOT NULL) WITHOUT ROWID;';

/** The heads of `subjects` (one statement); a subject with no row has head 0 and is left out. */
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
export function advanceHeads(sql: SqlStorage, after: number): void {
  sql.exec(
    `INSERT INTO subject_head (subject, sequence)
     SELECT subject, sequence FROM outbox WHERE sequence > ? AND subject IS NOT NULL ORDER BY sequence
     ON CONFLICT (subject) DO UPDATE SET sequence = max(sequence, excluded.sequence)`,
    after,
  );
}
