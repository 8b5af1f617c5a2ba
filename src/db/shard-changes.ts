/**
 * Changes of a tenant's shard count (docs/design/sharding.md §4, tenancy/shard-change.ts): one row per
 * change, at most one `moving` per tenant. Each old shard reports twice, once when it released its
 * moving slots and once when their new owners adopted them; each report counts once, so a report
 * sent again after a crash changes nothing.
 */
import { bumpConfigVersion, type BumpedVersion } from './tenants';
import { transaction, type Db } from './client';

export interface MovingChange {
  tenant_id: string;
  epoch: number;
  from_shards: number;
  to_shards: number;
  done_shards: number[];
}

/** Records a change as `moving`; false when another one is still moving (the unique index). */
export async function insertShardChange(db: Db, change: { tenantId: string; epoch: number; from: number; to: number; movingSlots: number }): Promise<boolean> {
  const result = await db.query(
    `INSERT INTO shard_changes (tenant_id, epoch, from_shards, to_shards, state, moving_slots) VALUES ($1, $2, $3, $4, 'moving', $5)
     ON CONFLICT (tenant_id) WHERE state = 'moving' DO NOTHING`,
    [change.tenantId, change.epoch, change.from, change.to, change.movingSlots],
  );
  return (result.rowCount ?? 0) > 0;
}

/** Changes still moving after `seconds` (the cron sends their plans again). */
export async function movingChanges(db: Db, seconds: number): Promise<MovingChange[]> {
  const result = await db.query<MovingChange>(
    `SELECT tenant_id, epoch, from_shards, to_shards, done_shards FROM shard_changes WHERE state = 'moving' AND started_at < now() - make_interval(secs => $1)`,
    [seconds],
  );
  return result.rows;
}

/** Old shard `shard` released `slots` slots. */
export async function reportReleased(db: Db, tenantId: string, epoch: number, shard: number, slots: number): Promise<void> {
  await db.query(
    `UPDATE shard_changes SET released_slots = released_slots + $4, released_shards = released_shards || $3::smallint
      WHERE tenant_id = $1 AND epoch = $2 AND NOT ($3::smallint = ANY (released_shards))`,
    [tenantId, epoch, shard, slots],
  );
}

/**
 * Old shard `shard` finished (its slots are adopted). The report that completes the change marks it
 * `done` and bumps the config version in the same transaction; it returns the version to announce.
 */
export async function reportDone(db: Db, tenantId: string, epoch: number, shard: number): Promise<BumpedVersion | null> {
  return transaction(db, async () => {
    const row = (
      await db.query<{ done: number; from_shards: number; state: string }>(
        `UPDATE shard_changes SET done_shards = CASE WHEN $3::smallint = ANY (done_shards) THEN done_shards ELSE done_shards || $3::smallint END
          WHERE tenant_id = $1 AND epoch = $2 RETURNING cardinality(done_shards) AS done, from_shards, state`,
        [tenantId, epoch, shard],
      )
    ).rows[0];
    if (row?.state !== 'moving' || row.done < row.from_shards) return null;
    await db.query(`UPDATE shard_changes SET state = 'done', finished_at = now() WHERE tenant_id = $1 AND epoch = $2`, [tenantId, epoch]);
    return bumpConfigVersion(db, tenantId);
  });
}
