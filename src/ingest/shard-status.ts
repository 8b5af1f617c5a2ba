/**
 * A multi-shard tenant's log figures are the sum of its shards' (docs/design/sharding.md §3):
 * depths and kept quarantined rows add up, flush failures take the worst shard, the oldest waiting
 * event is the oldest of any shard's, and `lastSequence`
 * becomes the count of sequences the shards numbered, Σ(lastSequence − shard·10^13), which for a
 * 1-shard tenant is its last sequence as before.
 */
import type { LogStatus } from './log-types';
import { allShards, SEQUENCE_STRIDE, shardLog } from '../tenancy/shard-routing';

export type TenantLogFigures = Pick<
  LogStatus,
  'lastSequence' | 'outboxDepth' | 'oldestOutboxAt' | 'dispatchDepth' | 'orderedDepth' | 'quarantined' | 'flushFailures'
>;

/** The summed status of every shard; throws when any shard does not answer. */
export async function tenantLogStatus(env: Pick<Env, 'TENANT_LOG'>, tenantId: string, shards: number): Promise<TenantLogFigures> {
  const statuses = await Promise.all(allShards(shards).map((shard) => shardLog(env, tenantId, shard).status()));
  return sumStatuses(statuses);
}

export function sumStatuses(statuses: readonly Pick<LogStatus, keyof TenantLogFigures | 'shard'>[]): TenantLogFigures {
  const sum: TenantLogFigures = { lastSequence: 0, outboxDepth: 0, oldestOutboxAt: null, dispatchDepth: 0, orderedDepth: 0, quarantined: 0, flushFailures: 0 };
  for (const s of statuses) {
    sum.lastSequence += Math.max(0, s.lastSequence - s.shard * SEQUENCE_STRIDE);
    sum.outboxDepth += s.outboxDepth;
    // absent from a log still running the code before it (for a moment during a deploy): no lag known
    const oldest = s.oldestOutboxAt ?? null;
    if (oldest !== null && (sum.oldestOutboxAt === null || oldest < sum.oldestOutboxAt)) sum.oldestOutboxAt = oldest;
    sum.dispatchDepth += s.dispatchDepth;
    sum.orderedDepth += s.orderedDepth;
    sum.quarantined += s.quarantined;
    sum.flushFailures = Math.max(sum.flushFailures, s.flushFailures);
  }
  return sum;
}
