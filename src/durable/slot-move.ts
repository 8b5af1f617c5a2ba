/**
 * Drives an old shard's part of a live shard-count change (docs/design/sharding.md §4) from its alarm:
 * plan → fence → drain → release (the handoff, in pages) → adopt (one RPC per page) → report. Every step
 * writes its SQLite state before its effect, so after a crash the alarm resumes where it stopped
 * (`hasWork` counts an unfinished plan) and re-sends what may not have arrived (adopt is idempotent).
 *
 * Rules a reader would not guess:
 * - The fence comes only after every row's slot is known: unknown slots are filled from Postgres
 *   first, then, inside the fence's transaction, from the outbox. The id claims a 1-shard tenant never
 *   wrote are written the same way: page by page before the fence, the outbox's at it.
 * - The slots are drained when the outbox holds nothing at or below the last sequence at the fence
 *   (no later row can be theirs). If that takes longer than FENCE_MS (Postgres is down), the slots are
 *   unfenced and tried again later: nothing was handed over yet.
 */
import type { SharedConnection } from '../db/shared-connection';
import { reportDone, reportReleased } from '../db/shard-changes';
import { announceConfigVersion } from '../tenancy/config-change';
import { invalidateTenantConfig } from '../tenancy/shared-cache';
import { shardLog } from '../tenancy/shard-routing';
import { writeMeta } from './meta-store';
import { dropHandoffPage, type HandoffPage, nextHandoffPage } from './slot-handoff-store';
import {
  type ClaimCursor,
  claimUnclaimedIds,
  type EventKeys,
  fillSlots,
  type MovePlan,
  releaseSlots,
  type SlotMoves,
  unslottedSequences,
  writePlan,
} from './slot-move-store';

export const FENCE_MS = 5_000;
const PAGE = 5_000;

/** What the driver needs of its TenantLog. */
export interface MoveHost {
  env: Env;
  ctx: DurableObjectState;
  sql: SqlStorage;
  postgres: SharedConnection;
  moves: SlotMoves;
  tenantId: string;
  shard: number;
  lastSequence(): number;
  lastReceivedAt(): number;
  /** Flushes one batch of the outbox and sends what it staged. */
  flush(): Promise<void>;
}

/** Runs the plan's steps as far as they go now; throws on a failure (the alarm retries with backoff). */
export async function driveMove(host: MoveHost): Promise<void> {
  const { sql, ctx, moves } = host;
  for (let plan = moves.plan; plan; plan = moves.plan) {
    if (plan.state === 'planned') {
      await fillFromPostgres(host);
      await claimStoredIds(host);
      ctx.storage.transactionSync(() => {
        fillSlots(sql, new Map(), true);
        // the claims of events still in the outbox (the rest were written page by page above); they move with the slots below
        const outboxFrom = oldestOutbox(sql);
        if (Number.isFinite(outboxFrom)) claimUnclaimedIds(sql, Date.now(), { minSequence: outboxFrom });
        plan.state = 'fenced';
        plan.fencedAt = Date.now();
        plan.fenceSequence = host.lastSequence();
        writePlan(sql, plan);
      });
    } else if (plan.state === 'fenced') {
      while (oldestOutbox(sql) <= plan.fenceSequence! && Date.now() - plan.fencedAt! < FENCE_MS) await host.flush();
      if (oldestOutbox(sql) <= plan.fenceSequence!) {
        unfence(host, plan);
        return;
      }
      ctx.storage.transactionSync(() => {
        releaseSlots(sql, plan, host.lastReceivedAt());
        plan.state = 'released';
        writePlan(sql, plan);
      });
      for (const [slot, to] of plan.slots) moves.released.set(slot, { to, epoch: plan.epoch });
    } else if (plan.state === 'released') {
      await host.postgres.use((db) => reportReleased(db, host.tenantId, plan.epoch, host.shard, plan.slots.size));
      // one page per call, in order; each is dropped once acknowledged, so a restart resumes at the first unsent
      for (let next = nextHandoffPage(sql, plan.epoch); next; next = nextHandoffPage(sql, plan.epoch)) {
        await shardLog(host.env, host.tenantId, next.to).adopt({
          tenantId: host.tenantId,
          shard: next.to,
          epoch: plan.epoch,
          from: host.shard,
          page: next.page,
          pages: next.pages,
          handoff: JSON.parse(next.body) as HandoffPage,
        });
        dropHandoffPage(sql, plan.epoch, next.to, next.page);
      }
      setState(host, plan, 'adopted');
    } else if (plan.state === 'adopted') {
      const bumped = await host.postgres.use(async (db) => {
        const version = await reportDone(db, host.tenantId, plan.epoch, host.shard);
        // the last old shard to finish: every isolate reloads the tenant's sources (routing by the new count only)
        if (version) await invalidateTenantConfig(host.env, db, host.tenantId);
        return version;
      });
      if (bumped) await announceConfigVersion(host.env, host.tenantId, bumped);
      setState(host, plan, 'finished');
      moves.plan = null;
    } else {
      moves.plan = null;
    }
  }
}

/** A fence that could not drain in time is lifted (nothing was handed over); the alarm tries again later. */
export function unfence(host: Pick<MoveHost, 'sql' | 'ctx' | 'tenantId' | 'shard'>, plan: MovePlan): void {
  console.warn(
    JSON.stringify({ msg: 'shard move: fenced slots did not drain in time, unfenced', tenantId: host.tenantId, shard: host.shard, epoch: plan.epoch }),
  );
  plan.state = 'planned';
  plan.fencedAt = null;
  plan.fenceSequence = null;
  writePlan(host.sql, plan);
}

function setState(host: MoveHost, plan: MovePlan, state: MovePlan['state']): void {
  plan.state = state;
  writePlan(host.sql, plan);
}

function oldestOutbox(sql: SqlStorage): number {
  return sql.exec<{ first: number | null }>('SELECT min(sequence) AS first FROM outbox').one().first ?? Number.POSITIVE_INFINITY;
}

/** Fills the slots of rows written before the tenant had more than one shard, from their stored events. */
async function fillFromPostgres(host: MoveHost): Promise<void> {
  const sequences = unslottedSequences(host.sql);
  for (let at = 0; at < sequences.length; at += PAGE) {
    const page = sequences.slice(at, at + PAGE);
    const rows = await host.postgres.use((db) =>
      db.query<EventKeys & { sequence: string }>(
        'SELECT sequence, partition_key, subject, source_id, ce_id FROM events WHERE tenant_id = $1 AND sequence = ANY($2::bigint[])',
        [host.tenantId, page],
      ),
    );
    const stored = new Map(rows.rows.map((r) => [Number(r.sequence), r]));
    host.ctx.storage.transactionSync(() => fillSlots(host.sql, stored, false));
  }
}

/**
 * Writes the id claims that the events of a 1-shard tenant never needed (`claimUnclaimedIds`), a page per
 * transaction with the object free between pages, so a large dedup window does not stall its appends;
 * only the rows whose slot is still unknown (events in the outbox) are left for the fence.
 */
async function claimStoredIds(host: MoveHost): Promise<void> {
  for (let from: ClaimCursor | null = ['', '']; from; ) {
    const at: ClaimCursor = from;
    from = host.ctx.storage.transactionSync(() => claimUnclaimedIds(host.sql, Date.now(), { from: at, limit: PAGE })).next;
    if (from) await new Promise((resolve) => setTimeout(resolve, 0));
  }
}

/** Records the epoch a log has heard of. */
export function learnEpoch(sql: SqlStorage, epoch: number): void {
  writeMeta(sql, 'epoch', epoch);
}
