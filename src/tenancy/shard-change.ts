/**
 * Changing a tenant's shard count (PATCH /v1/tenants/{t} `shards`), slice 1 of
 * docs/design/sharding.md: allowed only while the tenant has never accepted an event; the live
 * cut-over of §4 (moving slots between shards) is not built yet, so any other change is refused.
 *
 * Runs inside the caller's transaction, which holds the tenant row locked. Every old shard is asked
 * to expect the new count only if it has numbered no event (one synchronous step in the log, so no
 * append can slip in between the check and the switch); from then on an append routed under the old
 * count is refused as stale there, and its isolate reloads once the transaction committed.
 */
import type { Db } from '../db/client';
import { problem, ProblemError } from '../lib/problem';
import { allShards, shardLog } from './shard-routing';

export async function changeShards(env: Pick<Env, 'TENANT_LOG'>, db: Db, tenantId: string, shards: number): Promise<void> {
  const row = (await db.query<{ shards: number }>('SELECT shards FROM tenants WHERE id = $1 FOR UPDATE', [tenantId])).rows[0];
  if (!row) throw new ProblemError(problem(404, 'tenant_not_found', `no tenant ${tenantId}`));
  const from = row.shards;
  if (from === shards) return;
  const logs = allShards(from);
  let empty: boolean[];
  try {
    empty = await Promise.all(logs.map((shard) => shardLog(env, tenantId, shard).reshard(shard, shards)));
  } catch (error) {
    console.error(JSON.stringify({ msg: 'shard change: a log did not answer', tenantId, error: String(error) }));
    throw new ProblemError(
      problem(503, 'storage_unavailable', "the tenant's event logs could not be asked; nothing was changed, retry", { headers: { 'retry-after': '1' } }),
    );
  }
  if (!empty.every(Boolean)) {
    // the empty ones go back to the count that stays
    await Promise.all(logs.filter((_, i) => empty[i]).map((shard) => shardLog(env, tenantId, shard).reshard(shard, from))).catch((error: unknown) =>
      console.error(JSON.stringify({ msg: 'shard change: an empty log kept the refused count', tenantId, from, to: shards, error: String(error) })),
    );
    throw new ProblemError(
      problem(
        409,
        'shard_change_unsupported',
        `the tenant has accepted events, and changing the shard count of a live tenant (from ${from} to ${shards}) is not built yet: the cut-over that moves keys between shards comes in a later release. Set the count before the first event, or create a new tenant with it`,
      ),
    );
  }
  await db.query('UPDATE tenants SET shards = $2 WHERE id = $1', [tenantId, shards]);
}
