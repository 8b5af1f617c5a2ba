/** Deliveries as the API shows them: list, detail with its attempts, and a manual retry. Every query names the tenant. */
import type { Db } from './client';
import { epochMs, iso, tenantWhere } from './sql';
import type { Priority } from '../lib/priority';

export interface DeliveryView {
  id: string;
  subscription_id: string;
  event_id: string;
  event_sequence: number;
  status: 'pending' | 'scheduled' | 'delivered' | 'failed' | 'skipped';
  /** When a delayed delivery's first attempt may start (src/delivery/schedule.ts); null for one that never waited. */
  scheduled_for: string | null;
  attempts: number;
  last_status: number | null;
  last_error: string | null;
  next_attempt_at: string | null;
  replay_id: string | null;
  /** The lane it travels on (src/delivery/lanes.ts). */
  priority: Priority;
  created_at: string;
  updated_at: string;
  finished_at: string | null;
}

const VIEW = `id, subscription_id, event_id, event_sequence::int8 AS event_sequence, status, attempts, last_status, last_error,
  ${iso('next_attempt_at')}, ${iso('scheduled_for')}, replay_id, priority, ${iso('created_at')}, ${iso('updated_at')}, ${iso('finished_at')}`;

type RawView = Omit<DeliveryView, 'event_sequence'> & { event_sequence: string };
const toView = (r: RawView): DeliveryView => ({ ...r, event_sequence: Number(r.event_sequence) });

export interface DeliveryFilter {
  status?: string;
  subscriptionId?: string;
  eventId?: string;
  after?: string;
  before?: string;
  /** Continue after this delivery id (ids sort by creation only within a replay, so paging is by id). */
  afterId?: string;
  limit: number;
}

export async function listDeliveries(db: Db, tenantId: string, f: DeliveryFilter): Promise<DeliveryView[]> {
  const where = tenantWhere(tenantId);
  if (f.status) where.add('status = ?', f.status);
  if (f.subscriptionId) where.add('subscription_id = ?', f.subscriptionId);
  if (f.eventId) where.add('event_id = ?', f.eventId);
  if (f.after) where.add('created_at >= ?', f.after);
  if (f.before) where.add('created_at < ?', f.before);
  if (f.afterId) where.add('id > ?', f.afterId);
  const limit = where.last(f.limit);
  const result = await db.query<RawView>(`SELECT ${VIEW} FROM deliveries WHERE ${where.sql} ORDER BY id LIMIT ${limit}`, where.params);
  return result.rows.map(toView);
}

export interface AttemptView {
  attempt: number;
  started_at: string;
  latency_ms: number;
  outcome: string;
  status_code: number | null;
  error: string | null;
  response_body: string | null;
  /** The request as sent (src/delivery/exchange.ts); null when the attempt sent none, or was recorded before it was kept. */
  request: { method: string; url: string; headers: Record<string, string>; body: string | null; body_truncated: boolean } | null;
  /** The answer; `status` null when none came, `headers` null when not kept. */
  response: { status: number | null; headers: Record<string, string> | null; body: string | null; body_truncated: boolean };
}

export async function findDelivery(
  db: Db,
  tenantId: string,
  id: string,
): Promise<(DeliveryView & { partition_key: string | null; attempt_log: AttemptView[] }) | null> {
  const result = await db.query<RawView & { partition_key: string | null; attempt_log: AttemptView[] }>(
    `SELECT ${VIEW}, partition_key,
       (SELECT COALESCE(json_agg(json_build_object('attempt', a.attempt, 'started_at', a.started_at, 'latency_ms', a.latency_ms, 'outcome', a.outcome,
                 'status_code', a.status_code, 'error', a.error, 'response_body', a.response_body,
                 'request', CASE WHEN a.request_method IS NULL THEN NULL ELSE json_build_object('method', a.request_method, 'url', a.request_url,
                   'headers', COALESCE(a.request_headers, '{}'::jsonb), 'body', a.request_body, 'body_truncated', a.request_body_truncated) END,
                 'response', json_build_object('status', a.status_code, 'headers', a.response_headers, 'body', a.response_body,
                   'body_truncated', a.response_body_truncated)) ORDER BY a.attempt), '[]')
          FROM delivery_attempts a WHERE a.delivery_id = d.id AND a.event_received_at = d.event_received_at) AS attempt_log
       FROM deliveries d WHERE tenant_id = $1 AND id = $2`,
    [tenantId, id],
  );
  const row = result.rows[0];
  return row ? { ...toView(row), partition_key: row.partition_key, attempt_log: row.attempt_log } : null;
}

/**
 * Puts a finished delivery back to pending with a fresh schedule. `busy` when it is not finished,
 * `expired` when retention removed its event (nothing could send it), null when there is no such delivery.
 * A reopened one comes back with its `event_received_at` (epoch ms), for its queue message.
 */
export async function reopenDelivery(
  db: Db,
  tenantId: string,
  id: string,
): Promise<{ id: string; subscription_id: string; priority: Priority; event_received_at: number } | 'busy' | 'expired' | null> {
  const result = await db.query<{ id: string; subscription_id: string; priority: Priority; event_received_at: number; reopened: boolean; has_event: boolean }>(
    `WITH target AS (
       SELECT d.id, d.status, EXISTS (SELECT 1 FROM events e WHERE e.tenant_id = d.tenant_id AND e.id = d.event_id) AS has_event
         FROM deliveries d WHERE d.tenant_id = $1 AND d.id = $2
     ), reopened AS (
       UPDATE deliveries d SET status = 'pending', schedule_offset = attempts, finished_at = NULL, next_attempt_at = now(), leased_until = NULL, updated_at = now()
         FROM target t WHERE d.tenant_id = $1 AND d.id = t.id AND t.has_event AND t.status NOT IN ('pending', 'scheduled')
       RETURNING d.id, d.subscription_id, d.priority, ${epochMs('d.event_received_at')}
     )
     SELECT t.id, r.subscription_id, r.priority, r.event_received_at, r.id IS NOT NULL AS reopened, t.has_event FROM target t LEFT JOIN reopened r ON r.id = t.id`,
    [tenantId, id],
  );
  const row = result.rows[0];
  if (!row) return null;
  if (row.reopened) return { id: row.id, subscription_id: row.subscription_id, priority: row.priority, event_received_at: row.event_received_at };
  return row.has_event ? 'busy' : 'expired';
}
