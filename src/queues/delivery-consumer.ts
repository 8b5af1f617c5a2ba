/**
 * The delivery queue's consumer. Each message ends in an explicit `ack()` or `retry({delaySeconds})`:
 * a delivery message as `settle` decides (see deliver-batch.ts), a replay or bulk-retry step as it
 * reports, and a message that does not parse is dead-lettered, never retried.
 */
import { withDb } from '../db/client';
import { requestSandboxes } from '../sandbox';
import { deliverBatch, LEASE_SECONDS, type BatchProgress } from './deliver-batch';
import { queueMessage, type DeliveryMessage } from '../lib/queue-messages';
import { runReplayStep } from './replay-step';
import { runRetryStep } from './retry-step';

/** When the claim itself failed, nothing is leased: the batch is tried again this soon. */
const UNCLAIMED_RETRY_SECONDS = 5;

export async function consumeDeliveries(batch: MessageBatch<unknown>, env: Env, ctx: ExecutionContext): Promise<void> {
  const bodies = new Map<Message<unknown>, DeliveryMessage>();
  for (const message of batch.messages) {
    const parsed = queueMessage.safeParse(message.body);
    if (!parsed.success) {
      console.error(JSON.stringify({ msg: 'poison message dead-lettered', id: message.id, issues: parsed.error.issues.slice(0, 3) }));
      await env.DEAD_LETTER_QUEUE.send({ reason: 'unparseable', body: message.body });
      message.ack();
    } else if (parsed.data.type === 'replay.v1') {
      const step = await runReplayStep(env, parsed.data).catch((error: unknown) => ({ kind: 'retry' as const, error: String(error) }));
      if (step.kind === 'retry') message.retry({ delaySeconds: 5 });
      else message.ack();
    } else if (parsed.data.type === 'retry.v1') {
      const step = await runRetryStep(env, parsed.data, message.attempts);
      if (step.kind === 'retry') message.retry({ delaySeconds: 5 });
      else message.ack();
    } else {
      bodies.set(message, parsed.data);
    }
  }
  if (bodies.size === 0) return;
  const progress: BatchProgress = { claimed: false, replacements: [] };
  try {
    await withDb(
      env,
      (db) => deliverBatch(db, env, ctx, bodies, progress, requestSandboxes(env, ctx)),
      (p) => ctx.waitUntil(p),
    );
  } catch (error) {
    // nothing recorded: the whole batch is tried again, once the leases it took (if any) are over
    const delaySeconds = progress.claimed ? LEASE_SECONDS : UNCLAIMED_RETRY_SECONDS;
    console.error(
      JSON.stringify({ msg: 'delivery batch failed', size: bodies.size, claimed: progress.claimed, retryInSeconds: delaySeconds, error: String(error) }),
    );
    for (const message of bodies.keys()) message.retry({ delaySeconds });
  } finally {
    for (const db of progress.replacements) ctx.waitUntil(db.end().catch(() => {}));
  }
}
