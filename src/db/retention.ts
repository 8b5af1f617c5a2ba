/**
 * Retention settings per tenant and the retention job's deletes. Every delete is one bounded batch
 * (a LIMIT inside, the oldest rows first, by an index on the age column), so no statement holds locks
 * for long and ingest never waits on it; the job calls them again while it has time.
 */
import type { Db } from './client';
import { iso } from './sql';

export interface RetentionRow {
  /** The tenant's own periods in days; null: the deployment's default. */
  events_days: number | null;
  deliveries_days: number | null;
  audit_days: number | null;
  /** Every event received before this instant is in the archive. */
  archived_until: string | null;
  updated_at: string | null;
}

export interface RetentionDays {
  events: number;
  deliveries: number;
  audit: number;
}

/** A stretch of the partition key (Unix ms, [from, to)) the row deletes leave to the drop of whole partitions (src/db/partitions.ts). */
export interface Spared {
  from: number;
  to: number;
}

const COLUMNS = `events_days, deliveries_days, audit_days, ${iso('archived_until')}, ${iso('updated_at')}`;
const NONE: RetentionRow = { events_days: null, deliveries_days: null, audit_days: null, archived_until: null, updated_at: null };

export async function findRetention(db: Db, tenantId: string): Promise<RetentionRow> {
  const result = await db.query<RetentionRow>(`SELECT ${COLUMNS} FROM tenant_retention WHERE tenant_id = $1`, [tenantId]);
  return result.rows[0] ?? NONE;
}

/** Replaces the tenant's periods (null: the default); the job's progress stays, and its next run visits the tenant. */
export async function putRetention(db: Db, tenantId: string, days: Omit<RetentionRow, 'archived_until' | 'updated_at'>): Promise<RetentionRow> {
  const result = await db.query<RetentionRow>(
    `INSERT INTO tenant_retention (tenant_id, events_days, deliveries_days, audit_days) VALUES ($1, $2, $3, $4)
     ON CONFLICT (tenant_id) DO UPDATE SET events_days = $2, deliveries_days = $3, audit_days = $4, checked_at = NULL, updated_at = now()
     RETURNING ${COLUMNS}`,
    [tenantId, days.events_days, days.deliveries_days, days.audit_days],
  );
  return result.rows[0]!;
}

export interface TenantDue {
  tenant_id: string;
  days: RetentionDays;
  /** Unix ms, or null before the first archived day. */
  archived_until: number | null;
}

/**
 * Up to `limit` tenants the job should visit: never visited first, then the least recently visited,
 * skipping those visited less than `restSeconds` ago (a tenant whose work was left over is due again
 * at once: {@link markChecked}). One statement marks them all visited and returns only those with
 * something past retention (indexed probes), so a run over idle tenants costs one round trip.
 */
export async function tenantsDue(db: Db, defaults: RetentionDays, limit: number, restSeconds: number): Promise<TenantDue[]> {
  const result = await db.query<{ id: string; events: number; deliveries: number; audit: number; archived_until: string | null }>(
    `WITH due AS (
       SELECT t.id, COALESCE(r.events_days, $3) AS events, COALESCE(r.deliveries_days, $4) AS deliveries, COALESCE(r.audit_days, $5) AS audit,
              r.archived_until
         FROM tenants t LEFT JOIN tenant_retention r ON r.tenant_id = t.id
        WHERE r.checked_at IS NULL OR r.checked_at < now() - make_interval(secs => $2)
        ORDER BY r.checked_at NULLS FIRST, t.id LIMIT $1
     ), visited AS (
       INSERT INTO tenant_retention (tenant_id, checked_at) SELECT id, now() FROM due
       ON CONFLICT (tenant_id) DO UPDATE SET checked_at = now()
     )
     SELECT d.id, d.events, d.deliveries, d.audit, (extract(epoch FROM d.archived_until) * 1000)::int8 AS archived_until FROM due d
      WHERE EXISTS (SELECT 1 FROM events e WHERE e.tenant_id = d.id
                       AND e.received_at < to_timestamp(floor(extract(epoch FROM now() - make_interval(days => d.events)) / 86400) * 86400))
         OR EXISTS (SELECT 1 FROM deliveries x WHERE x.tenant_id = d.id AND x.status IN ('delivered', 'failed', 'skipped')
                       AND x.created_at < now() - make_interval(days => d.deliveries))
         OR EXISTS (SELECT 1 FROM audit_log a WHERE a.tenant_id = d.id AND a.at < now() - make_interval(days => d.audit))`,
    [limit, restSeconds, defaults.events, defaults.deliveries, defaults.audit],
  );
  return result.rows.map((r) => ({
    tenant_id: r.id,
    days: { events: r.events, deliveries: r.deliveries, audit: r.audit },
    archived_until: r.archived_until === null ? null : Number(r.archived_until),
  }));
}

/** Records the archive's progress: every event received before `archivedUntil` (Unix ms) is in R2. */
export async function saveArchivedUntil(db: Db, tenantId: string, archivedUntil: number): Promise<void> {
  await db.query(
    `INSERT INTO tenant_retention (tenant_id, archived_until) VALUES ($1, to_timestamp($2 / 1000.0))
     ON CONFLICT (tenant_id) DO UPDATE SET archived_until = GREATEST(tenant_retention.archived_until, EXCLUDED.archived_until)`,
    [tenantId, archivedUntil],
  );
}

/** Marks the tenant visited; `finished` false (work left over) makes it due again at once. */
export async function markChecked(db: Db, tenantId: string, finished: boolean): Promise<void> {
  await db.query(
    `INSERT INTO tenant_retention (tenant_id, checked_at) VALUES ($1, CASE WHEN $2 THEN now() ELSE '-infinity' END)
     ON CONFLICT (tenant_id) DO UPDATE SET checked_at = EXCLUDED.checked_at`,
    [tenantId, finished],
  );
}

/**
 * Deletes up to `limit` of the tenant's events received before `before` (which the caller keeps at or
 * below the archive's progress), oldest first, but none `spared` (they go with their partition). Kept although old: events a restore-replay put back
 * (until their `keep_until`) and events with a pending delivery (deleting them would strand it).
 */
export async function deleteExpiredEvents(db: Db, tenantId: string, before: number, limit: number, spared?: Spared): Promise<number> {
  const result = await db.query(
    `DELETE FROM events WHERE tenant_id = $1 AND (sequence, received_at) IN (
       SELECT e.sequence, e.received_at FROM events e
        WHERE e.tenant_id = $1 AND e.received_at < to_timestamp($2 / 1000.0)
          AND NOT (e.received_at >= to_timestamp($4 / 1000.0) AND e.received_at < to_timestamp($5 / 1000.0))
          AND NOT EXISTS (SELECT 1 FROM event_restores r WHERE r.tenant_id = $1 AND e.sequence BETWEEN r.seq_from AND r.seq_to AND r.keep_until > now())
          AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.tenant_id = $1 AND d.event_id = e.id AND d.status = 'pending')
        ORDER BY e.received_at LIMIT $3)`,
    [tenantId, before, limit, spared?.from ?? 0, spared?.to ?? 0],
  );
  return result.rowCount ?? 0;
}

/**
 * Deletes up to `limit` finished deliveries created before `before`, with their attempts (no foreign key
 * between the partitioned tables does it: migration 0020); pending ones stay.
 */
export async function deleteExpiredDeliveries(db: Db, tenantId: string, before: number, limit: number, spared?: Spared): Promise<number> {
  const result = await db.query<{ n: number }>(
    `WITH d AS (
       DELETE FROM deliveries WHERE (id, event_received_at) IN (
         SELECT id, event_received_at FROM deliveries
          WHERE tenant_id = $1 AND status IN ('delivered', 'failed', 'skipped') AND created_at < to_timestamp($2 / 1000.0)
            AND NOT (event_received_at >= to_timestamp($4 / 1000.0) AND event_received_at < to_timestamp($5 / 1000.0)) LIMIT $3)
       RETURNING id, event_received_at
     ), a AS (
       DELETE FROM delivery_attempts a USING d WHERE a.delivery_id = d.id AND a.event_received_at = d.event_received_at
     )
     SELECT count(*)::int AS n FROM d`,
    [tenantId, before, limit, spared?.from ?? 0, spared?.to ?? 0],
  );
  return result.rows[0]?.n ?? 0;
}

/** Deletes up to `limit` of the tenant's audit entries older than `before`, oldest first. */
export async function deleteExpiredAudit(db: Db, tenantId: string, before: number, limit: number, spared?: Spared): Promise<number> {
  const result = await db.query(
    `DELETE FROM audit_log WHERE (id, at) IN (
       SELECT id, at FROM audit_log WHERE tenant_id = $1 AND at < to_timestamp($2 / 1000.0)
          AND NOT (at >= to_timestamp($4 / 1000.0) AND at < to_timestamp($5 / 1000.0))
        ORDER BY at LIMIT $3)`,
    [tenantId, before, limit, spared?.from ?? 0, spared?.to ?? 0],
  );
  return result.rowCount ?? 0;
}

/** Drops restore marks whose time is over. */
export async function forgetOldRestores(db: Db, tenantId: string): Promise<void> {
  await db.query('DELETE FROM event_restores WHERE tenant_id = $1 AND keep_until < now()', [tenantId]);
}
