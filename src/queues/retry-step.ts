/**
 * One step of a bulk retry: the next page of its deliveries (see `runRetryPage`), sent again. Failed
 * deliveries, put back to pending with a fresh schedule, go out at once outside any ordered line, as a
 * manual retry does. Pending ones go through their TenantLog's redrive, which keeps ordered lines in
 * order: a line's in-flight delivery is sent again as itself and the others wait their turn; that is
 * also how a resumed subscription's held deliveries are released. Steps chain through the queue until
 * the job completes; the job row shows the progress.
 *
 * A step that fails after its page committed leaves that page pending without a message: the redrive
 * sweep (Cron Trigger) sends those within REDRIVE_AFTER_SECONDS.
 */
import { withDb, type Db } from '../db/client';
import { failRetry, runRetryPage, type RetriedDelivery, type RetryFilter } from '../db/delivery-retries';
import { sendToLanes } from '../delivery/lanes';
import type { RetryMessage } from '../lib/queue-messages';
import { shardOfSequence } from '../tenancy/shard-routing';
import { redriveOnShard } from '../tenancy/line-follow';

export const RETRY_PAGE = 500;
/** Tries of one step before the job is marked failed (the queue would dead-letter the message soon after). */
const STEP_TRIES = 5;

export async function runRetryStep(env: Env, message: RetryMessage, attempt: number): Promise<{ kind: 'done' } | { kind: 'retry'; error: string }> {
  try {
    await withDb(env, (db) => step(db, env, message));
    return { kind: 'done' };
  } catch (error) {
    if (attempt < STEP_TRIES) return { kind: 'retry', error: String(error) };
    console.error(JSON.stringify({ msg: 'bulk retry failed', retryId: message.retry_id, error: String(error) }));
    await withDb(env, (db) => failRetry(db, message.tenant_id, message.retry_id, String(error))).catch(() => {});
    return { kind: 'done' };
  }
}

async function step(db: Db, env: Env, message: RetryMessage): Promise<void> {
  const page = await runRetryPage(db, message.tenant_id, message.retry_id, RETRY_PAGE);
  if (page.kind === 'stale') return;
  await send(env, message.tenant_id, page.filter, page.retried);
  if (!page.done) await env.DELIVERY_QUEUE.send(message, { contentType: 'json' });
}

async function send(env: Env, tenantId: string, filter: RetryFilter, retried: RetriedDelivery[]): Promise<void> {
  if (retried.length === 0) return;
  if (filter.status === 'pending') {
    // each to the shard whose ordered line holds it (its event's shard)
    for (const [shard, group] of Map.groupBy(retried, (d) => shardOfSequence(d.event_sequence ?? 0)))
      await redriveOnShard(
        env,
        tenantId,
        shard,
        group.map((d) => ({
          id: d.id,
          subscriptionId: d.subscription_id,
          partitionKey: d.partition_key,
          priority: d.priority,
          receivedAt: d.event_received_at,
        })),
      );
    return;
  }
  await sendToLanes(
    env,
    retried.map((d) => ({
      type: 'delivery.v1',
      tenant_id: tenantId,
      delivery_id: d.id,
      subscription_id: d.subscription_id,
      partition_key: null,
      priority: d.priority,
      event_received_at: d.event_received_at,
    })),
  );
}
