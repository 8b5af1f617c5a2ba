/**
 * Bulk retries: a filter over a tenant's deliveries, worked off in steps (src/queues/retry-step.ts).
 * A step takes the next page of matching deliveries in (created_at, id) order after the job's cursor,
 * and in one statement puts the retryable ones back to pending, counts the rest as skipped and moves
 * the cursor. Every query names the tenant.
 */
import type { Priority } from '../lib/priority';
import type { Db } from './client';
import { epochMs, iso } from './sql';
import { storableText } from '../lib/storable';

export interface RetryFilter {
  status: 'failed' | 'pending';
  subscription_id?: string;
  since?: string;
  until?: string;
}

export interface RetryRow {
  id: string;
  tenant_id: string;
  /** `resume`: the release of a resumed subscription's held deliveries. */
  kind: 'retry' | 'resume';
  filter: RetryFilter;
  status: 'running' | 'completed' | 'failed';
  matched: number;
  retried: number;
  skipped: number;
  error: string | null;
  created_at: string;
  completed_at: string | null;
}

/** The step's position: timestamps as Postgres text, which keeps their microseconds. */
interface RetryCursor {
  cutoff: string;
  cursor_created_at: string | null;
  cursor_id: string | null;
}

const COLUMNS = `id, tenant_id, kind, filter, status, matched, retried, skipped, error, ${iso('created_at')}, ${iso('completed_at')}`;
const CURSOR = `cutoff::text AS cutoff, cursor_created_at::text AS cursor_created_at, cursor_id`;

/** Running bulk retries a tenant may have at once (a job whose steps were lost stops counting after a day). */
export const RUNNING_RETRIES_LIMIT = 5;

export async function countRunningRetries(db: Db, tenantId: string): Promise<number> {
  const result = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM delivery_retries WHERE tenant_id = $1 AND kind = 'retry' AND status = 'running' AND created_at > now() - interval '1 day'`,
    [tenantId],
  );
  return result.rows[0]?.n ?? 0;
}

/** Creates a job; `matched` counts the deliveries its filter selects now (created up to the job's cutoff). */
export async function insertRetry(db: Db, id: string, tenantId: string, kind: RetryRow['kind'], filter: RetryFilter): Promise<RetryRow> {
  const result = await db.query<RetryRow>(
    `INSERT INTO delivery_retries (id, tenant_id, kind, filter, matched)
     SELECT $1, $2, $3, $4, count(*) FROM deliveries
      WHERE tenant_id = $2 AND status = $5 AND ($6::text IS NULL OR subscription_id = $6)
        AND ($7::timestamptz IS NULL OR created_at >= $7) AND ($8::timestamptz IS NULL OR created_at < $8) AND created_at <= now()
     RETURNING ${COLUMNS}`,
    [id, tenantId, kind, JSON.stringify(filter), filter.status, filter.subscription_id ?? null, filter.since ?? null, filter.until ?? null],
  );
  return result.rows[0]!;
}

export async function findRetry(db: Db, tenantId: string, id: string): Promise<RetryRow | null> {
  const result = await db.query<RetryRow>(`SELECT ${COLUMNS} FROM delivery_retries WHERE tenant_id = $1 AND id = $2`, [tenantId, id]);
  return result.rows[0] ?? null;
}

/** A delivery a step put back to pending (or, for pending ones, marked due now); `partition_key` is '' for none. */
export interface RetriedDelivery {
  id: string;
  subscription_id: string;
  partition_key: string;
  /** Its event's sequence, which names the tenant's shard holding its ordered line (tenancy/shard-routing.ts). */
  event_sequence: number;
  /** Its lane (src/delivery/lanes.ts): sent again on the same one. */
  priority: Priority;
  /** Its event's `received_at` (epoch ms), the delivery's partition key: its message carries it (`event_received_at`). */
  event_received_at: number;
}

export type RetryStep = { kind: 'stale' } | { kind: 'advanced'; done: boolean; retried: RetriedDelivery[]; filter: RetryFilter };

/**
 * Runs one page of a job. Skipped (counted, left alone): deliveries of a deleted, disabled or listener
 * subscription and, when retrying pending ones, those a pause holds or a consumer is attempting. Two
 * copies of one step cannot both run a page: the job row is locked at its cursor, so the second finds
 * the cursor moved and reports `stale`.
 */
export async function runRetryPage(db: Db, tenantId: string, id: string, pageSize: number): Promise<RetryStep> {
  const found = await db.query<RetryRow & RetryCursor>(`SELECT ${COLUMNS}, ${CURSOR} FROM delivery_retries WHERE tenant_id = $1 AND id = $2`, [tenantId, id]);
  const job = found.rows[0];
  if (job?.status !== 'running') return { kind: 'stale' };
  const f = job.filter;
  const result = await db.query<{ done: boolean | null; retried: RetriedDelivery[] }>(
    `WITH job AS (
       SELECT id FROM delivery_retries
        WHERE id = $1 AND tenant_id = $2 AND status = 'running'
          AND cursor_id IS NOT DISTINCT FROM $9 AND cursor_created_at IS NOT DISTINCT FROM $8::timestamptz
        FOR UPDATE
     ), page AS (
       SELECT d.id, d.created_at, d.subscription_id, COALESCE(d.partition_key, '') AS partition_key,
              COALESCE(s.id IS NULL OR s.action_type = 'cli' OR NOT s.enabled
                -- retention removed its event: nothing could send it
                OR NOT EXISTS (SELECT 1 FROM events e WHERE e.tenant_id = d.tenant_id AND e.id = d.event_id)
                OR ($3 = 'pending' AND (s.paused_at IS NOT NULL OR s.breaker_opened_at IS NOT NULL OR d.leased_until > now())), false) AS skip
         FROM deliveries d LEFT JOIN subscriptions s ON s.id = d.subscription_id AND s.tenant_id = d.tenant_id
        WHERE EXISTS (SELECT 1 FROM job) AND d.tenant_id = $2 AND d.status = $3 AND ($4::text IS NULL OR d.subscription_id = $4)
          AND ($5::timestamptz IS NULL OR d.created_at >= $5) AND ($6::timestamptz IS NULL OR d.created_at < $6) AND d.created_at <= $7::timestamptz
          AND ($9::text IS NULL OR (d.created_at, d.id) > ($8::timestamptz, $9))
          -- a resume releases what the pause held: deliveries already due (the others still have their queue message)
          AND ($11 <> 'resume' OR d.next_attempt_at IS NULL OR d.next_attempt_at <= now())
        ORDER BY d.created_at, d.id LIMIT $10
     ), last AS (
       SELECT created_at, id FROM page ORDER BY created_at DESC, id DESC LIMIT 1
     ), retried AS (
       UPDATE deliveries d SET status = 'pending', next_attempt_at = now(), updated_at = now(),
              -- a failed delivery starts a fresh schedule, as a manual retry does
              schedule_offset = CASE WHEN d.status = 'failed' THEN d.attempts ELSE d.schedule_offset END,
              finished_at = NULL, leased_until = CASE WHEN d.status = 'failed' THEN NULL ELSE d.leased_until END
         FROM page p WHERE d.id = p.id AND NOT p.skip AND d.status = $3
       RETURNING d.id, d.subscription_id, p.partition_key, d.priority, d.event_sequence::float8 AS event_sequence,
               ${epochMs('d.event_received_at')}
     ), progress AS (
       UPDATE delivery_retries t SET
              cursor_created_at = COALESCE((SELECT created_at FROM last), t.cursor_created_at),
              cursor_id = COALESCE((SELECT id FROM last), t.cursor_id),
              retried = t.retried + (SELECT count(*) FROM retried),
              skipped = t.skipped + (SELECT count(*) FROM page WHERE skip),
              status = CASE WHEN (SELECT count(*) FROM page) < $10 THEN 'completed' ELSE t.status END,
              completed_at = CASE WHEN (SELECT count(*) FROM page) < $10 THEN now() END
        WHERE t.id IN (SELECT id FROM job)
       RETURNING t.status = 'completed' AS done
     )
     SELECT (SELECT done FROM progress) AS done,
            (SELECT COALESCE(json_agg(json_build_object('id', id, 'subscription_id', subscription_id, 'partition_key', partition_key, 'priority', priority, 'event_sequence', event_sequence,
                                              'event_received_at', event_received_at)), '[]') FROM retried) AS retried`,
    [id, tenantId, f.status, f.subscription_id ?? null, f.since ?? null, f.until ?? null, job.cutoff, job.cursor_created_at, job.cursor_id, pageSize, job.kind],
  );
  const row = result.rows[0];
  if (row?.done == null) return { kind: 'stale' };
  return { kind: 'advanced', done: row.done, retried: row.retried, filter: f };
}

/** Ends a job that cannot go on (its steps kept failing). */
export async function failRetry(db: Db, tenantId: string, id: string, error: string): Promise<void> {
  await db.query(`UPDATE delivery_retries SET status = 'failed', error = $3, completed_at = now() WHERE tenant_id = $1 AND id = $2 AND status = 'running'`, [
    tenantId,
    id,
    storableText(error),
  ]);
}
