/**
 * Changing a tenant's shard count (PATCH /v1/tenants/{t} `shards`, docs/design/sharding.md §4): the
 * change is recorded as `moving` with a new epoch, and each old shard is asked to move the slots it
 * no longer owns (`TenantLog.planMove`); its alarm drives the move (durable/slot-move.ts) and the last
 * old shard to finish marks the change `done`.
 *
 * Rules a reader would not guess:
 * - `changeShards` runs inside the caller's transaction, which holds the tenant row locked (so two
 *   changes queue); `startMove` runs after the commit. A plan that does not arrive is sent again by the
 *   minute cron (`resumeShardMoves`) and by the first append that carries the new epoch.
 * - `shard_span` only grows: calls that go to every shard cover the retired shards of a shrink.
 */
import type { Db } from '../db/client';
import { insertShardChange, movingChanges } from '../db/shard-changes';
import { problem, ProblemError } from '../lib/problem';
import { ownerOf, shardLog, SLOTS } from './shard-routing';

export interface PlannedChange {
  tenantId: string;
  epoch: number;
  from: number;
  to: number;
}

/** Slots whose owner differs between the two counts. */
export function movingSlotCount(from: number, to: number): number {
  let n = 0;
  for (let s = 0; s < SLOTS; s++) if (ownerOf(s, from) !== ownerOf(s, to)) n++;
  return n;
}

/** Records the change (null: the count is already `shards`, nothing to do). */
export async function changeShards(db: Db, tenantId: string, shards: number): Promise<PlannedChange | null> {
  const row = (
    await db.query<{ shards: number; shard_epoch: number; moving: boolean }>(
      `SELECT shards, shard_epoch, EXISTS (SELECT 1 FROM shard_changes c WHERE c.tenant_id = t.id AND c.state = 'moving') AS moving
         FROM tenants t WHERE id = $1 FOR UPDATE`,
      [tenantId],
    )
  ).rows[0];
  if (!row) throw new ProblemError(problem(404, 'tenant_not_found', `no tenant ${tenantId}`));
  const inProgress = () =>
    new ProblemError(
      problem(409, 'shard_change_in_progress', 'a change of the shard count is still moving keys; wait until `shard_change.state` is `done`, then retry'),
    );
  if (row.moving) throw inProgress();
  if (row.shards === shards) return null;
  const change = { tenantId, epoch: row.shard_epoch + 1, from: row.shards, to: shards };
  if (!(await insertShardChange(db, { ...change, movingSlots: movingSlotCount(change.from, change.to) }))) throw inProgress();
  await db.query('UPDATE tenants SET shards = $2, shard_epoch = $3, shard_span = greatest(shard_span, $2) WHERE id = $1', [tenantId, shards, change.epoch]);
  return change;
}

/** Asks every old shard to plan its part of the move; a shard that does not answer is asked again by the cron. */
export async function startMove(env: Pick<Env, 'TENANT_LOG'>, change: PlannedChange, only?: readonly number[]): Promise<void> {
  const shards = only ?? Array.from({ length: change.from }, (_, i) => i);
  await Promise.all(
    shards.map((shard) =>
      shardLog(env, change.tenantId, shard)
        .planMove({ tenantId: change.tenantId, shard, epoch: change.epoch, from: change.from, to: change.to })
        .catch((error: unknown) =>
          console.error(JSON.stringify({ msg: 'shard move not planned; the cron sends it again', tenantId: change.tenantId, shard, error: String(error) })),
        ),
    ),
  );
}

/** The minute cron: changes moving for over a minute get their plans sent again to the old shards that have not finished. */
export async function resumeShardMoves(db: Db, env: Pick<Env, 'TENANT_LOG'>): Promise<void> {
  for (const c of await movingChanges(db, 60)) {
    const pending = Array.from({ length: c.from_shards }, (_, i) => i).filter((s) => !c.done_shards.includes(s));
    await startMove(env, { tenantId: c.tenant_id, epoch: c.epoch, from: c.from_shards, to: c.to_shards }, pending);
  }
}
