/**
 * Listeners: subscriptions with `action_type = 'cli'` that `switchyard listen` forwards itself. The
 * fan-out and the queue never run them (`loadRouting` leaves them out); the CLI reports each local
 * forward, which lands as a delivery and its attempts like any other. Every query names the tenant.
 */
import type { Db } from './client';
import { iso } from './sql';
import { timeOfId } from '../lib/ids';

export const LISTENER_ACTION_TYPE = 'cli';

/** Attempts one listener delivery may record; past it a report is refused (the CLI is looping on one event). */
export const MAX_LISTENER_ATTEMPTS = 100;

export interface ListenerRow {
  id: string;
  name: string;
  types: string[];
  filter: unknown;
  last_sequence: number;
  /** Last reported sequence per shard (`{"<shard>": sequence}`); shards never reported are absent. */
  positions: Record<string, number>;
  created_at: string;
}

const COLUMNS = `id, name, types, filter, last_sequence::int8 AS last_sequence, positions, ${iso('created_at')}`;

type RawListener = Omit<ListenerRow, 'last_sequence'> & { last_sequence: string };
const toRow = ({ last_sequence, ...r }: RawListener): ListenerRow => ({ ...r, last_sequence: Number(last_sequence) });

/** `$5` (a sequence) names its shard `floor($5 / 10^13)` (tenancy/shard-routing.ts SEQUENCE_STRIDE; db/ does not import tenancy/). */
const SHARD_KEY = '($5::int8 / 10000000000000)::text';

export async function findListenerByName(db: Db, tenantId: string, name: string): Promise<ListenerRow | null> {
  const result = await db.query<RawListener>(`SELECT ${COLUMNS} FROM subscriptions WHERE tenant_id = $1 AND action_type = 'cli' AND name = $2`, [
    tenantId,
    name,
  ]);
  return result.rows[0] ? toRow(result.rows[0]) : null;
}

/**
 * Creates the tenant's listener called `name`, or replaces the types and filter of the one that
 * exists. `sealedSecret` is stored only when the listener is new (or has no valid secret left);
 * otherwise its newest valid secret's ciphertext comes back, so the CLI always gets the secret
 * its forwards are signed with.
 */
export async function upsertListener(
  db: Db,
  id: string,
  tenantId: string,
  f: { name: string; types: string[]; filter: unknown },
  sealedSecret: { id: string; ciphertext: string },
): Promise<{ row: ListenerRow; created: boolean; ciphertext: string }> {
  const result = await db.query<RawListener & { created: boolean; ciphertext: string }>(
    `WITH up AS (
       INSERT INTO subscriptions AS s (id, tenant_id, name, types, filter, action_type) VALUES ($1, $2, $3, $4, $5, 'cli')
       ON CONFLICT (tenant_id, name) WHERE action_type = 'cli'
       DO UPDATE SET types = EXCLUDED.types, filter = EXCLUDED.filter, version = s.version + 1, updated_at = now()
       RETURNING s.*, (s.xmax = 0) AS created,
         (SELECT k.ciphertext FROM subscription_secrets k WHERE k.subscription_id = s.id AND (k.expires_at IS NULL OR k.expires_at > now())
           ORDER BY k.created_at DESC LIMIT 1) AS kept
     ), k AS (
       INSERT INTO subscription_secrets (id, tenant_id, subscription_id, ciphertext) SELECT $6, $2, up.id, $7 FROM up WHERE up.kept IS NULL
     )
     SELECT ${COLUMNS}, created, COALESCE(kept, $7) AS ciphertext FROM up`,
    [id, tenantId, f.name, f.types, f.filter == null ? null : JSON.stringify(f.filter), sealedSecret.id, sealedSecret.ciphertext],
  );
  const { created, ciphertext, ...raw } = result.rows[0]!;
  return { row: toRow(raw), created, ciphertext };
}

export async function listListeners(db: Db, tenantId: string, options: { afterId?: string; limit: number }): Promise<ListenerRow[]> {
  const result = await db.query<RawListener>(
    `SELECT ${COLUMNS} FROM subscriptions WHERE tenant_id = $1 AND action_type = 'cli' AND ($2::text IS NULL OR id > $2) ORDER BY id LIMIT $3`,
    [tenantId, options.afterId ?? null, options.limit],
  );
  return result.rows.map(toRow);
}

/** Deletes a listener; its deliveries and their attempts stay. False when the tenant has no such listener. */
export async function deleteListener(db: Db, tenantId: string, id: string): Promise<boolean> {
  const result = await db.query(`DELETE FROM subscriptions WHERE tenant_id = $1 AND id = $2 AND action_type = 'cli'`, [tenantId, id]);
  return (result.rowCount ?? 0) > 0;
}

/** One local forward as the CLI reports it. */
export interface ListenerAttempt {
  deliveryId: string;
  eventId: string;
  sequence: number;
  partitionKey: string | null;
  outcome: 'delivered' | 'failed';
  statusCode: number | null;
  latencyMs: number;
  error: string | null;
  responseBody: string | null;
  startedAt: string | null;
}

export type RecordedListenerAttempt =
  | { kind: 'recorded'; deliveryId: string; attempt: number; status: 'delivered' | 'failed' }
  | { kind: 'no_listener' }
  | { kind: 'attempt_limit' };

/**
 * Records one reported attempt in one round trip: the delivery of (listener, event) is created by the
 * first report (the event need not be in Postgres yet: the stream pushes events before their flush)
 * and takes each later one as its next attempt; its status is the latest outcome. The listener's
 * `last_sequence` rises to the reported sequence, and so does its shard's entry in `positions` (the
 * resume point: sequences of different shards are not comparable).
 */
export async function recordListenerAttempt(db: Db, tenantId: string, listenerId: string, a: ListenerAttempt): Promise<RecordedListenerAttempt> {
  const result = await db.query<{ listener: boolean; delivery_id: string | null; attempt: number | null; status: 'delivered' | 'failed' | null }>(
    `WITH l AS (
       SELECT id FROM subscriptions WHERE tenant_id = $1 AND id = $2 AND action_type = 'cli'
     ), d AS (
       INSERT INTO deliveries AS d (id, tenant_id, subscription_id, event_id, event_sequence, partition_key, status, attempts, last_status, last_error, finished_at,
              event_received_at)
       -- the partition key of the first report stays the delivery's (the event's received_at, which its id carries)
       SELECT $3, $1, l.id, $4, $5::int8, $6, $7, 1, $8::int, $9, now(),
              COALESCE((SELECT k.event_received_at FROM deliveries k WHERE k.tenant_id = $1 AND k.id = $3 LIMIT 1), to_timestamp($14::float8 / 1000.0), now()) FROM l
       ON CONFLICT (id, event_received_at) DO UPDATE SET attempts = d.attempts + 1, status = EXCLUDED.status, last_status = EXCLUDED.last_status,
              last_error = EXCLUDED.last_error, updated_at = now(), finished_at = now()
        WHERE d.tenant_id = EXCLUDED.tenant_id AND d.subscription_id = EXCLUDED.subscription_id AND d.attempts < $13
       RETURNING d.id, d.attempts, d.status, d.event_received_at
     ), a AS (
       INSERT INTO delivery_attempts (tenant_id, delivery_id, attempt, started_at, latency_ms, outcome, status_code, error, response_body, event_received_at)
       SELECT $1, d.id, d.attempts, COALESCE($10::timestamptz, now() - $11::int * interval '1 millisecond'), $11::int, $7, $8::int, $9, $12, d.event_received_at FROM d
     ), s AS (
       UPDATE subscriptions SET last_sequence = GREATEST(last_sequence, $5::int8),
              positions = jsonb_set(positions, ARRAY[${SHARD_KEY}], to_jsonb(GREATEST(COALESCE((positions ->> ${SHARD_KEY})::int8, 0), $5::int8)))
        WHERE id IN (SELECT id FROM l) AND EXISTS (SELECT 1 FROM d)
     )
     SELECT EXISTS (SELECT 1 FROM l) AS listener, d.id AS delivery_id, d.attempts AS attempt, d.status FROM (SELECT 1) AS one LEFT JOIN d ON true`,
    [
      tenantId,
      listenerId,
      a.deliveryId,
      a.eventId,
      a.sequence,
      a.partitionKey,
      a.outcome,
      a.statusCode,
      a.error,
      a.startedAt,
      a.latencyMs,
      a.responseBody,
      MAX_LISTENER_ATTEMPTS,
      timeOfId(a.eventId),
    ],
  );
  const row = result.rows[0];
  if (!row?.listener) return { kind: 'no_listener' };
  if (!row.delivery_id || row.attempt === null || row.status === null) return { kind: 'attempt_limit' };
  return { kind: 'recorded', deliveryId: row.delivery_id, attempt: row.attempt, status: row.status };
}

/**
 * What a delivery's subscription is, for the manual retry: a listener's delivery cannot be sent
 * again by the server, nor one whose subscription is gone. Null when the tenant has no such delivery.
 */
export async function deliveryOwner(db: Db, tenantId: string, deliveryId: string): Promise<'listener' | 'subscription' | 'gone' | null> {
  const result = await db.query<{ action_type: string | null; found: boolean }>(
    `SELECT s.action_type, s.id IS NOT NULL AS found FROM deliveries d LEFT JOIN subscriptions s ON s.id = d.subscription_id AND s.tenant_id = d.tenant_id
      WHERE d.tenant_id = $1 AND d.id = $2`,
    [tenantId, deliveryId],
  );
  const row = result.rows[0];
  if (!row) return null;
  if (!row.found) return 'gone';
  return row.action_type === LISTENER_ACTION_TYPE ? 'listener' : 'subscription';
}
