/** The `events` table: the outbox flush writes it, the events API reads it. Every query names the tenant. */
import type { Db } from './client';
import { whereToSql } from './where-sql';
import { iso } from './sql';

export interface DeliveryRow {
  id: string;
  subscriptionId: string;
  eventId: string;
  sequence: number;
  partitionKey: string;
  /** The delivery's lane (src/delivery/lanes.ts); absent: normal. */
  priority?: string;
  /** Epoch ms before which it may not be attempted: stored `scheduled` (src/delivery/schedule.ts); absent or null: pending. */
  notBefore?: number | null;
}

/**
 * One round trip for the whole batch: the events (a JSON array of outbox rows, each with the stored
 * event spliced in as JSON, as the TenantLog's `encodeOutbox` writes it) and the deliveries they fan out to travel as two JSON parameters and are
 * expanded by `jsonb_to_recordset`. Re-flushing rows Postgres already has is a no-op, so a crash
 * between commit and outbox delete cannot duplicate anything. `events` counts the rows this call
 * wrote: fewer than given means some sequences were already taken (see `storedIds`). A row Postgres
 * refuses fails the whole statement (see `isDataError` in quarantine.ts).
 */
export async function insertEvents(db: Db, tenantId: string, events: string, deliveries: DeliveryRow[] = []): Promise<{ events: number; deliveries: number }> {
  const result = await db.query<{ events: string; deliveries: string }>(
    `WITH r AS (
       SELECT * FROM jsonb_to_recordset($2::jsonb) AS r(sequence bigint, id text, source_id text, ce_id text, type text,
              subject text, time timestamptz, partition_key text, correlation_id text, causation_id text,
              event jsonb, sha256 text, received_at bigint, schema_version integer)
     ), e AS (
       INSERT INTO events (tenant_id, sequence, id, source_id, ce_id, ce_source, type, subject, time, partition_key,
                           correlation_id, causation_id, event, sha256, received_at, priority, schema_version)
       SELECT $1, r.sequence, r.id, r.source_id, r.ce_id, r.event->>'source', r.type, r.subject, r.time, r.partition_key,
              r.correlation_id, r.causation_id, r.event, r.sha256, to_timestamp(r.received_at / 1000.0),
              -- ingest validated it; anything else (a system event has none) is normal
              CASE WHEN r.event->>'priority' IN ('low', 'high', 'critical') THEN r.event->>'priority' ELSE 'normal' END,
              r.schema_version
         FROM r
       -- the arbiters are each partition's keys, (tenant_id, sequence) and (tenant_id, id) (migration 0020)
       ON CONFLICT DO NOTHING
       RETURNING 1
     ), d AS (
       -- partitioned by the event's received_at, which a re-flush gives again: the same row, the same partition
       INSERT INTO deliveries (id, tenant_id, subscription_id, event_id, event_sequence, partition_key, priority, status, scheduled_for, next_attempt_at,
                               event_received_at)
       SELECT x."id", $1, x."subscriptionId", x."eventId", x."sequence", x."partitionKey", COALESCE(x."priority", 'normal'),
              CASE WHEN x."notBefore" IS NULL THEN 'pending' ELSE 'scheduled' END, to_timestamp(x."notBefore" / 1000.0), to_timestamp(x."notBefore" / 1000.0),
              COALESCE(to_timestamp(r.received_at / 1000.0), now())
         FROM jsonb_to_recordset($3::jsonb) AS x("id" text, "subscriptionId" text, "eventId" text, "sequence" bigint, "partitionKey" text, "priority" text,
              "notBefore" bigint)
         LEFT JOIN r ON r.sequence = x."sequence"
        -- rows locked in id order, as a sync claim (deliveries-sync.ts) inserts them: two inserts of the same rows in two orders deadlock
        ORDER BY x."id"
       ON CONFLICT (id, event_received_at) DO NOTHING
       RETURNING 1
     )
     SELECT (SELECT count(*) FROM e) AS events, (SELECT count(*) FROM d) AS deliveries`,
    [tenantId, events, JSON.stringify(deliveries)],
  );
  const row = result.rows[0];
  return { events: Number(row?.events ?? 0), deliveries: Number(row?.deliveries ?? 0) };
}

/**
 * The event id Postgres holds at each of `sequences` (absent: none). After an insert wrote fewer rows
 * than it was given, this tells a re-flush of rows already stored (same id: fine) from a sequence taken
 * by another event (which `ON CONFLICT DO NOTHING` skipped without a word).
 */
export async function storedIds(db: Db, tenantId: string, sequences: number[]): Promise<Map<number, string>> {
  const result = await db.query<{ sequence: string; id: string }>(
    'SELECT sequence::int8 AS sequence, id FROM events WHERE tenant_id = $1 AND sequence = ANY($2::int8[])',
    [tenantId, sequences],
  );
  return new Map(result.rows.map((r) => [Number(r.sequence), r.id]));
}

export interface StoredEvent {
  id: string;
  sequence: number;
  source_id: string;
  received_at: string;
  event: Record<string, unknown>;
  /** Hex SHA-256 of the event as the producer sent it, before Switchyard added anything (README: "Verifying an event"). */
  sha256: string;
  /** `received_at` in Unix ms, read for the multi-shard cursor only (`position`). */
  received_ms?: number;
  /** The version of the type's schema the event was validated against; read for the archive only. */
  schema_version?: number | null;
}

export interface EventFilter {
  types?: string[];
  subject?: string;
  correlationId?: string;
  /** The event type's schema version that validated the event (README "Schema evolution"). */
  schemaVersion?: number;
  after?: string;
  before?: string;
  /** Sequence to continue after (from the cursor). */
  afterSequence?: number;
  /**
   * Multi-shard tenants (docs/design/sharding.md §3): read in `(received_at, sequence)` order, after
   * `after` (from the cursor), and only up to `horizonMs`, before which every shard has stored all it
   * acknowledged, so no later row can appear behind a cursor.
   */
  position?: { after?: { receivedAtMs: number; sequence: number }; horizonMs: number };
  /** A subscription `where` that compileFilter accepted, matched in SQL (event-search.ts). */
  where?: unknown;
  limit: number;
}

const COLUMNS = `id, sequence::int8 AS sequence, source_id, ${iso('received_at')}, event, sha256`;

interface EventRow {
  id: string;
  sequence: string;
  source_id: string;
  received_at: string;
  event: Record<string, unknown>;
  sha256: string;
  received_ms?: string;
}

const toStored = ({ received_ms, ...row }: EventRow): StoredEvent => ({
  ...row,
  sequence: Number(row.sequence),
  ...(received_ms === undefined ? {} : { received_ms: Number(received_ms) }),
});

export async function listEvents(db: Db, tenantId: string, filter: EventFilter): Promise<StoredEvent[]> {
  const params: unknown[] = [tenantId];
  const param = (value: unknown) => `$${params.push(value)}`;
  const clauses = ['tenant_id = $1'];
  if (filter.types?.length) clauses.push(`type = ANY(${param(filter.types)})`);
  if (filter.subject) clauses.push(`subject = ${param(filter.subject)}`);
  if (filter.correlationId) clauses.push(`correlation_id = ${param(filter.correlationId)}`);
  if (filter.schemaVersion !== undefined) clauses.push(`schema_version = ${param(filter.schemaVersion)}`);
  if (filter.after) clauses.push(`received_at >= ${param(filter.after)}`);
  if (filter.before) clauses.push(`received_at < ${param(filter.before)}`);
  if (filter.afterSequence !== undefined) clauses.push(`sequence > ${param(filter.afterSequence)}`);
  if (filter.where !== undefined && filter.where !== null) clauses.push(whereToSql(filter.where, param));
  const { position } = filter;
  if (position) {
    // the same ms → timestamptz conversion as insertEvents, so a cursor's row compares equal to itself
    clauses.push(`received_at <= to_timestamp(${param(position.horizonMs)}::int8 / 1000.0)`);
    if (position.after)
      clauses.push(`(received_at, sequence) > (to_timestamp(${param(position.after.receivedAtMs)}::int8 / 1000.0), ${param(position.after.sequence)}::int8)`);
  }
  const limit = param(filter.limit);
  const result = await db.query<EventRow>(
    position
      ? `SELECT ${COLUMNS}, round(extract(epoch FROM received_at) * 1000)::int8 AS received_ms FROM events WHERE ${clauses.join(' AND ')} ORDER BY received_at, sequence LIMIT ${limit}`
      : `SELECT ${COLUMNS} FROM events WHERE ${clauses.join(' AND ')} ORDER BY sequence LIMIT ${limit}`,
    params,
  );
  return result.rows.map(toStored);
}

export async function getEvent(db: Db, tenantId: string, id: string): Promise<StoredEvent | null> {
  const result = await db.query<EventRow>(`SELECT ${COLUMNS} FROM events WHERE tenant_id = $1 AND id = $2`, [tenantId, id]);
  const row = result.rows[0];
  return row ? toStored(row) : null;
}
