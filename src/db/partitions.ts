/**
 * Maintenance of the time-partitioned tables (migration 0020: events, deliveries, delivery_attempts by day,
 * audit_log by month, each with a DEFAULT partition). Run by the retention job every minute, but a table
 * is looked at once an hour at most (`time_partitioned.checked_at`, claimed in one statement, so an idle
 * run costs one round trip). For each table that is due:
 * 1. prepare: the DEFAULT partition's rows move into partitions of their own, and the partitions from
 *    today to `aheadDays` ahead are created (`prepare_time_partitions`, one transaction);
 * 2. drop: a partition whose whole period is past the longest retention any tenant has is dropped,
 *    unless a tenant still needs a row of it: for events, a tenant whose archive has not passed the
 *    period, a restore-replay's kept range, or a pending delivery of one of its events; for deliveries
 *    (dropped with the attempts partition of the same day), a pending or scheduled delivery or one
 *    created within the longest delivery retention (a replay of an old event). Tenants with a shorter
 *    retention lose their rows earlier through the retention job's bounded deletes.
 * Every lock is taken with a short lock_timeout: a busy table is left for the next hour, ingest never waits long.
 */
import { transaction, type Db } from './client';
import { sqlstateOf } from './quarantine';
import type { RetentionDays, Spared } from './retention';

export const PARTITION_LIMITS = { aheadDays: 7, everySeconds: 3600 };

export interface PartitionOutcome {
  /** Partitions created (ahead, or for rows the DEFAULT partition caught). */
  created: number;
  dropped: string[];
  /** Expired partitions a tenant still needs. */
  kept: string[];
}

interface Expired {
  parent: 'events' | 'deliveries' | 'audit_log';
  leaf: string;
  lo: string;
  hi: string;
  /** deliveries: the attempts partition of the same day, if any */
  sibling: string | null;
  /** deliveries: rows created after this are within some tenant's retention */
  keep_after: string;
}

const quoted = (name: string) => `"${name.replaceAll('"', '""')}"`;

/** A lock not had within lock_timeout (or a deadlock with a writer) leaves the work to the next hour. */
async function busyAsNull<T>(work: Promise<T>): Promise<T | null> {
  try {
    return await work;
  } catch (error) {
    const state = sqlstateOf(error);
    if (state !== '55P03' && state !== '40P01') throw error;
    console.log(JSON.stringify({ msg: 'partition maintenance postponed: a table was busy', sqlstate: state }));
    return null;
  }
}

const DAY_MS = 86_400_000;

/**
 * What the retention job's row deletes leave to the drop of whole partitions: rows past the longest
 * retention of any tenant, for a grace of one partition period and a day (a drop that stays blocked
 * longer, by a stuck pending delivery say, lets the row deletes take them after all). So a row may
 * outlive its retention by up to a partition period (a day; a month for the audit log).
 */
export async function sparedForPartitions(db: Db, defaults: RetentionDays, now = Date.now()): Promise<Record<keyof RetentionDays, Spared>> {
  const result = await db.query<RetentionDays>(
    `SELECT GREATEST($1::int, max(events_days)) AS events, GREATEST($2::int, max(deliveries_days)) AS deliveries, GREATEST($3::int, max(audit_days)) AS audit
       FROM tenant_retention`,
    [defaults.events, defaults.deliveries, defaults.audit],
  );
  const longest = result.rows[0] ?? defaults;
  const eventsTo = Math.floor((now - longest.events * DAY_MS) / DAY_MS) * DAY_MS;
  const deliveriesTo = now - longest.deliveries * DAY_MS;
  const auditTo = now - longest.audit * DAY_MS;
  return {
    events: { from: eventsTo - 2 * DAY_MS, to: eventsTo },
    deliveries: { from: deliveriesTo - 2 * DAY_MS, to: deliveriesTo },
    audit: { from: auditTo - 32 * DAY_MS, to: auditTo },
  };
}

/** Prepares and drops the partitions of the tables that are due (all of them when `force`). */
export async function maintainPartitions(db: Db, defaults: RetentionDays, force = false, limits = PARTITION_LIMITS): Promise<PartitionOutcome> {
  const outcome: PartitionOutcome = { created: 0, dropped: [], kept: [] };
  const due = await db.query<{ parent: string }>(
    'UPDATE time_partitioned SET checked_at = now() WHERE $1 OR checked_at < now() - make_interval(secs => $2) RETURNING parent',
    [force, limits.everySeconds],
  );
  if (due.rows.length === 0) return outcome;
  const parents = due.rows.map((r) => r.parent).sort();
  for (const parent of parents) {
    const result = await busyAsNull(db.query<{ n: number }>('SELECT prepare_time_partitions($1, $2) AS n', [parent, limits.aheadDays]));
    outcome.created += result?.rows[0]?.n ?? 0;
  }
  for (const partition of await expiredPartitions(db, parents, defaults)) {
    const leaves = partition.sibling ? [partition.sibling, partition.leaf] : [partition.leaf];
    // no row may arrive between the check and the drop: both in one transaction, the partitions locked against writes first
    const dropped = await busyAsNull(
      transaction(db, async () => {
        await db.query(`SET LOCAL lock_timeout = '2s'`);
        await db.query(`LOCK TABLE ${leaves.map(quoted).join(', ')} IN SHARE MODE`);
        if (await stillNeeded(db, partition)) return false;
        await db.query('SELECT drop_time_partitions($1::text[])', [leaves]);
        return true;
      }),
    );
    if (dropped) outcome.dropped.push(...leaves);
    else outcome.kept.push(partition.leaf);
  }
  if (outcome.created + outcome.dropped.length > 0) console.log(JSON.stringify({ msg: 'partitions', ...outcome }));
  return outcome;
}

/** Partitions of `parents` whose whole period is past the longest retention of any tenant (the defaults included). */
async function expiredPartitions(db: Db, parents: string[], defaults: RetentionDays): Promise<Expired[]> {
  const result = await db.query<Expired>(
    `WITH longest AS (
       SELECT GREATEST($2::int, max(events_days)) AS events, GREATEST($3::int, max(deliveries_days)) AS deliveries,
              GREATEST($4::int, max(audit_days)) AS audit
         FROM tenant_retention
     ), leaves AS (
       SELECT t.parent, c.relname::text AS leaf,
              substring(b FROM 'FROM \\(''([^'']+)''\\)')::timestamptz AS lo, substring(b FROM 'TO \\(''([^'']+)''\\)')::timestamptz AS hi
         FROM time_partitioned t
         JOIN pg_inherits i ON i.inhparent = to_regclass(t.parent)
         JOIN pg_class c ON c.oid = i.inhrelid
         CROSS JOIN LATERAL pg_get_expr(c.relpartbound, c.oid) AS b
        WHERE t.parent = ANY($1) AND b <> 'DEFAULT'
     )
     SELECT l.parent, l.leaf, l.lo::text AS lo, l.hi::text AS hi,
            CASE WHEN l.parent = 'deliveries' THEN to_regclass('delivery_attempts' || substr(l.leaf, length('deliveries') + 1))::text END AS sibling,
            (now() - make_interval(days => g.deliveries))::text AS keep_after
       FROM leaves l CROSS JOIN longest g
      WHERE (l.parent = 'events' AND l.hi <= date_trunc('day', now() - make_interval(days => g.events), 'UTC'))
         OR (l.parent = 'deliveries' AND l.hi <= now() - make_interval(days => g.deliveries))
         OR (l.parent = 'audit_log' AND l.hi <= now() - make_interval(days => g.audit))
      ORDER BY l.parent, l.lo`,
    [parents, defaults.events, defaults.deliveries, defaults.audit],
  );
  return result.rows;
}

/** Whether some tenant still needs a row of an expired partition (indexed probes, but a deliveries partition is read whole). */
async function stillNeeded(db: Db, p: Expired): Promise<boolean> {
  const leaf = quoted(p.leaf);
  if (p.parent === 'audit_log') return false;
  if (p.parent === 'deliveries') {
    const result = await db.query<{ needed: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM ${leaf} WHERE status IN ('pending', 'scheduled') OR created_at >= $1::timestamptz) AS needed`,
      [p.keep_after],
    );
    return result.rows[0]?.needed ?? true;
  }
  const result = await db.query<{ needed: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM tenants t LEFT JOIN tenant_retention r ON r.tenant_id = t.id
                     WHERE (r.archived_until IS NULL OR r.archived_until < $2::timestamptz) AND EXISTS (SELECT 1 FROM ${leaf} e WHERE e.tenant_id = t.id))
         OR EXISTS (SELECT 1 FROM event_restores r WHERE r.keep_until > now()
                       AND EXISTS (SELECT 1 FROM ${leaf} e WHERE e.tenant_id = r.tenant_id AND e.sequence BETWEEN r.seq_from AND r.seq_to))
         OR EXISTS (SELECT 1 FROM deliveries d WHERE d.event_received_at >= $1::timestamptz AND d.event_received_at < $2::timestamptz
                       AND d.status IN ('pending', 'scheduled')) AS needed`,
    [p.lo, p.hi],
  );
  return result.rows[0]?.needed ?? true;
}
