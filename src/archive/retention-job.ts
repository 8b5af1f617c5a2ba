/**
 * The retention job, run by the every-minute Cron Trigger. Per tenant, in this order:
 * 1. archive: each UTC day whose events are all past the tenant's event retention is written to R2
 *    in parts (gzip NDJSON, at most PART_EVENTS events or about PART_BYTES each), each part recorded in
 *    `event_archives` after its object is written; when the day has no event left to write, its
 *    manifest is written and the tenant's `archived_until` moves past the day;
 * 2. delete: events received before both the retention cut-off and `archived_until` (so never one that
 *    is not in R2), finished deliveries with their attempts, and audit entries, each past its own
 *    retention, in bounded batches.
 * A crash anywhere leaves work the next run redoes: a part written but not recorded is written again
 * with the same rows; a recorded one is not; deletes only follow `archived_until`.
 * Events are kept whole days: an event goes once its whole UTC day is older than the retention, so it
 * stays between N and N + 1 days. Deliveries and audit entries go N days after they were created.
 * Dedup keys and ordering lines live in the TenantLog Durable Object, which this job never touches.
 * 3. partitions (src/db/partitions.ts): whole days (audit: months) go at once by dropping their
 *    partition, once past every tenant's retention and archived; the deletes above serve the tenants
 *    with a shorter retention and leave rows past the longest retention to the drop (`spared`).
 * Bounded (RETENTION_LIMITS): at most `tenantsPerRun` tenants and about `runMs` of work a run; one with work left
 * is visited first next time, one without rests `restSeconds` (a settings change ends the rest).
 */
import { configOf, type ConfigVars } from '../config';
import type { Db } from '../db/client';
import { eventsToArchive, firstEventSince, lastPartOfDay, partsOfDay, recordPart } from '../db/archives';
import { maintainPartitions, sparedForPartitions } from '../db/partitions';
import {
  deleteExpiredAudit,
  deleteExpiredDeliveries,
  deleteExpiredEvents,
  findRetention,
  forgetOldRestores,
  markChecked,
  saveArchivedUntil,
  tenantsDue,
  type Spared,
  type TenantDue,
} from '../db/retention';
import { archiveLine, buildManifest, manifestKey, partKey } from './archive-format';
import { gzipLines } from './ndjson-gzip';

export const RETENTION_LIMITS = {
  tenantsPerRun: 20,
  // just under the Cron period: with few tenants, each is looked at once a minute
  restSeconds: 50,
  runMs: 5_000,
  partEvents: 1_000,
  partBytes: 4 * 1024 * 1024,
  eventBatch: 1_000,
  deliveryBatch: 500,
  auditBatch: 1_000,
};

const DAY_MS = 86_400_000;
const utcMidnight = (ms: number) => Math.floor(ms / DAY_MS) * DAY_MS;
const dayText = (ms: number) => new Date(ms).toISOString().slice(0, 10);

export interface RetentionOutcome {
  tenant_id: string;
  archived: { parts: number; events: number; bytes: number };
  deleted: { events: number; deliveries: number; audit: number };
  /** False when the time ran out with work left. */
  finished: boolean;
}

type RetentionEnv = ConfigVars & { ARCHIVE: R2Bucket };

/** One run over the tenants that are due (the Cron Trigger's entry point). */
export async function runRetention(db: Db, env: RetentionEnv, limits = RETENTION_LIMITS): Promise<RetentionOutcome[]> {
  const deadline = Date.now() + limits.runMs;
  const due = await tenantsDue(db, configOf(env).retentionDefaults, limits.tenantsPerRun, limits.restSeconds);
  const outcomes: RetentionOutcome[] = [];
  const spared = due.length > 0 ? await sparedForPartitions(db, configOf(env).retentionDefaults) : null;
  for (const tenant of due) {
    if (Date.now() >= deadline || !spared) break;
    const outcome = await enforceRetention(db, env.ARCHIVE, tenant, deadline, limits, spared);
    outcomes.push(outcome);
    if (outcome.archived.parts + outcome.deleted.events + outcome.deleted.deliveries + outcome.deleted.audit > 0)
      console.log(JSON.stringify({ msg: 'retention', ...outcome }));
  }
  // then whole partitions: created ahead, and dropped once no tenant needs them (at most hourly per table)
  await maintainPartitions(db, configOf(env).retentionDefaults);
  return outcomes;
}

/** The job for one tenant, whatever its turn (tests, and a tenant's own clean-up). */
export async function enforceTenantRetention(db: Db, env: RetentionEnv, tenantId: string, limits = RETENTION_LIMITS): Promise<RetentionOutcome> {
  const defaults = configOf(env).retentionDefaults;
  const row = await findRetention(db, tenantId);
  const tenant: TenantDue = {
    tenant_id: tenantId,
    days: { events: row.events_days ?? defaults.events, deliveries: row.deliveries_days ?? defaults.deliveries, audit: row.audit_days ?? defaults.audit },
    archived_until: row.archived_until === null ? null : Date.parse(row.archived_until),
  };
  return enforceRetention(db, env.ARCHIVE, tenant, Date.now() + limits.runMs, limits, await sparedForPartitions(db, defaults));
}

async function enforceRetention(
  db: Db,
  archive: R2Bucket,
  tenant: TenantDue,
  deadline: number,
  limits: typeof RETENTION_LIMITS,
  spared: Record<keyof RetentionOutcome['deleted'], Spared>,
): Promise<RetentionOutcome> {
  const id = tenant.tenant_id;
  const now = Date.now();
  const outcome: RetentionOutcome = {
    tenant_id: id,
    archived: { parts: 0, events: 0, bytes: 0 },
    deleted: { events: 0, deliveries: 0, audit: 0 },
    finished: true,
  };
  const timeLeft = () => {
    if (Date.now() < deadline) return true;
    outcome.finished = false;
    return false;
  };

  // 1. archive whole expired days, oldest first
  const expiredBefore = utcMidnight(now - tenant.days.events * DAY_MS);
  let archivedUntil = tenant.archived_until;
  while (timeLeft()) {
    const first = await firstEventSince(db, id, archivedUntil);
    if (first === null || first >= expiredBefore) break;
    const dayStart = utcMidnight(first);
    const day = dayText(dayStart);
    const last = await lastPartOfDay(db, id, day);
    const rows = await eventsToArchive(db, id, dayStart, last?.seq_to ?? 0, limits.partEvents, limits.partBytes);
    if (rows.length === 0) {
      // the day is complete: its manifest, then the progress that lets its events be deleted
      const parts = await partsOfDay(db, id, day);
      if (parts.length > 0)
        await archive.put(manifestKey(id, day), JSON.stringify(buildManifest(id, day, parts), null, 2), {
          httpMetadata: { contentType: 'application/json' },
        });
      archivedUntil = dayStart + DAY_MS;
      await saveArchivedUntil(db, id, archivedUntil);
      continue;
    }
    const part = (last?.part ?? -1) + 1;
    const file = await gzipLines(rows.map(archiveLine));
    const key = partKey(id, day, part);
    await archive.put(key, file.bytes, {
      sha256: file.sha256,
      httpMetadata: { contentType: 'application/gzip' },
      customMetadata: { format: 'ndjson', count: String(rows.length), sequence: `${rows[0]!.sequence}-${rows.at(-1)!.sequence}` },
    });
    await recordPart(db, id, {
      day,
      part,
      key,
      count: rows.length,
      seq_from: rows[0]!.sequence,
      seq_to: rows.at(-1)!.sequence,
      received_from: rows.map((r) => r.received_at).sort()[0]!,
      received_to: rows
        .map((r) => r.received_at)
        .sort()
        .at(-1)!,
      sha256: file.sha256,
      bytes: file.bytes.byteLength,
      raw_bytes: file.rawBytes,
    });
    outcome.archived.parts++;
    outcome.archived.events += rows.length;
    outcome.archived.bytes += file.bytes.byteLength;
  }

  // 2. delete, each kind by its own retention; events only where the archive has them
  const deleteAll = async (kind: keyof RetentionOutcome['deleted'], remove: () => Promise<number>, batch: number) => {
    while (timeLeft()) {
      const n = await remove();
      outcome.deleted[kind] += n;
      if (n < batch) return;
    }
  };
  if (archivedUntil !== null) {
    const cut = Math.min(expiredBefore, archivedUntil);
    await deleteAll('events', () => deleteExpiredEvents(db, id, cut, limits.eventBatch, spared.events), limits.eventBatch);
  }
  const deliveriesBefore = now - tenant.days.deliveries * DAY_MS;
  await deleteAll('deliveries', () => deleteExpiredDeliveries(db, id, deliveriesBefore, limits.deliveryBatch, spared.deliveries), limits.deliveryBatch);
  const auditBefore = now - tenant.days.audit * DAY_MS;
  await deleteAll('audit', () => deleteExpiredAudit(db, id, auditBefore, limits.auditBatch, spared.audit), limits.auditBatch);
  await forgetOldRestores(db, id);
  await markChecked(db, id, outcome.finished);
  return outcome;
}
