/**
 * The delivery queue's consumer. Each message ends in an explicit `ack()` or `retry({delaySeconds})`
 * decided by the retry policy; a message that does not parse is dead-lettered, never retried.
 *
 * Per batch: one round trip claims and loads the deliveries, the attempts run with bounded
 * concurrency (Workers allow 6 simultaneous connections), one round trip records them all.
 */
import { attemptDelivery, type AttemptResult } from '../delivery/attempt';
import { parseAllowlist } from '../delivery/ssrf-guard';
import { nextStep, retryPolicy } from '../delivery/retry-policy';
import { SYSTEM_PREFIX, systemEvent } from '../delivery/system-events';
import { withDb, type Db } from '../db/client';
import { claimDeliveries, deliveryStatuses, LEASE_SECONDS, recordAttempts, type AttemptRecord } from '../db/deliveries';
import { bumpConfigVersion } from '../db/tenants';
import type { AppendItem } from '../durable/log-types';
import { open } from '../lib/secret-box';
import { requestSandboxes, type SandboxProvider } from '../plugins/sandbox';
import { announceConfigVersion } from '../tenancy/config-change';
import { queueMessage, type DeliveryMessage, type QueueMessage } from './messages';
import { runReplayStep } from './replay-step';

const CONCURRENCY = 6;

export async function consumeDeliveries(batch: MessageBatch<unknown>, env: Env, ctx: ExecutionContext): Promise<void> {
  const deliveries: Message<unknown>[] = [];
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
    } else {
      deliveries.push(message);
    }
  }
  if (deliveries.length === 0) return;
  const bodies = new Map(deliveries.map((m) => [m, (m.body as QueueMessage) as DeliveryMessage]));
  try {
    await withDb(env, (db) => deliverBatch(db, env, bodies, requestSandboxes(env, ctx)), (p) => ctx.waitUntil(p));
  } catch (error) {
    // nothing recorded: the whole batch is tried again; claimed leases expire on their own
    console.error(JSON.stringify({ msg: 'delivery batch failed', size: deliveries.length, error: String(error) }));
    for (const message of deliveries) message.retry({ delaySeconds: LEASE_SECONDS });
  }
}

async function deliverBatch(db: Db, env: Env, bodies: Map<Message<unknown>, DeliveryMessage>, sandboxes?: SandboxProvider): Promise<void> {
  const ids = [...new Set([...bodies.values()].map((b) => b.delivery_id))];
  const claimed = new Map((await claimDeliveries(db, ids)).map((d) => [d.id, d]));
  // not claimed: finished (a duplicate message), gone (its subscription was deleted), or leased
  const others = await deliveryStatuses(db, ids.filter((id) => !claimed.has(id)));
  const finished = new Set(others.filter((d) => d.status !== 'pending').map((d) => d.id));
  const leased = new Set(others.filter((d) => d.status === 'pending').map((d) => d.id));

  const started = new Date();
  const runs = new Map<string, { result: AttemptResult; latencyMs: number; startedAt: Date }>();
  const queue = [...claimed.values()];
  const allowlist = parseAllowlist(env.EGRESS_ALLOWLIST);
  await Promise.all(
    Array.from({ length: Math.min(CONCURRENCY, queue.length) }, async () => {
      for (let d = queue.shift(); d; d = queue.shift()) {
        const startedAt = new Date();
        const result = d.subscription_enabled
          ? await attemptDelivery(d, { allowlist, secrets: await Promise.all(d.sealed_secrets.map((s) => open(env.ENCRYPTION_KEY, s))), sandbox: sandboxes?.(d.tenant_id) })
          : ({ kind: 'rejected', error: 'the subscription is disabled' } as const);
        runs.set(d.id, { result, latencyMs: Date.now() - startedAt.getTime(), startedAt });
      }
    }),
  );

  const scale = Number(env.RETRY_SCALE ?? 1) || 1;
  const records: AttemptRecord[] = [];
  const gone: string[] = [];
  const decisions = new Map<string, { kind: 'retry'; delaySeconds: number } | { kind: 'final'; status: 'delivered' | 'failed' | 'skipped' }>();
  for (const d of claimed.values()) {
    const { result, latencyMs, startedAt } = runs.get(d.id) ?? { result: { kind: 'retry', error: 'not run' } as const, latencyMs: 0, startedAt: started };
    let status: AttemptRecord['status'];
    let nextAt: string | null = null;
    switch (result.kind) {
      case 'delivered':
      case 'skipped':
        status = result.kind;
        break;
      case 'retry': {
        const step = nextStep(Math.max(1, d.attempts - d.schedule_offset), result, retryPolicy({ scheduleSeconds: d.retry_schedule ?? undefined, scale }));
        status = step.kind === 'retry' ? 'pending' : 'failed';
        if (step.kind === 'retry') {
          nextAt = new Date(Date.now() + step.delayMs).toISOString();
          decisions.set(d.id, { kind: 'retry', delaySeconds: step.delaySeconds });
        }
        break;
      }
      case 'gone':
        gone.push(d.subscription_id);
        status = 'failed';
        break;
      case 'rejected':
        status = 'failed';
    }
    if (status !== 'pending') decisions.set(d.id, { kind: 'final', status });
    records.push({
      tenant_id: d.tenant_id,
      delivery_id: d.id,
      subscription_id: d.subscription_id,
      attempt: d.attempts,
      started_at: startedAt.toISOString(),
      latency_ms: latencyMs,
      outcome: result.kind,
      status_code: 'status' in result ? (result.status ?? null) : null,
      error: 'error' in result ? result.error : result.kind === 'skipped' ? result.reason : null,
      response_body: 'responseBody' in result ? (result.responseBody ?? null) : null,
      status,
      next_attempt_at: nextAt,
    });
  }
  const health = records.length > 0 ? await recordAttempts(db, records, gone) : [];

  // system events, per tenant, after the attempts are on record
  const emit = new Map<string, AppendItem[]>();
  const push = (tenantId: string, item: AppendItem) => emit.set(tenantId, [...(emit.get(tenantId) ?? []), item]);
  for (const record of records) {
    const d = claimed.get(record.delivery_id)!;
    if (record.status === 'failed' && !String(d.event.type).startsWith(SYSTEM_PREFIX)) {
      push(d.tenant_id, await systemEvent('switchyard.delivery.exhausted', `exhausted-${d.id}`, d.id, {
        delivery_id: d.id, subscription_id: d.subscription_id, event_id: d.event_id, attempts: d.attempts,
        last_outcome: record.outcome, last_status: record.status_code, last_error: record.error,
      }));
    }
  }
  for (const h of health.filter((s) => s.disabled_now)) {
    push(h.tenant_id, await systemEvent('switchyard.subscription.disabled', `disabled-${h.id}-${Date.now()}`, h.id, { subscription_id: h.id, consecutive_failures: h.consecutive_failures }));
    await announceConfigVersion(env, h.tenant_id, await bumpConfigVersion(db, h.tenant_id));
  }
  for (const [tenantId, items] of emit) await env.TENANT_LOG.getByName(tenantId).appendSystem(tenantId, items);

  const handled = new Set<string>();
  for (const [message, body] of bodies) {
    // two copies of one message in a batch: the first carries the decision, the other is a duplicate
    const decision = handled.has(body.delivery_id) ? undefined : decisions.get(body.delivery_id);
    handled.add(body.delivery_id);
    if (decision?.kind === 'retry') {
      message.retry({ delaySeconds: decision.delaySeconds });
      continue;
    }
    if (!decision && leased.has(body.delivery_id)) {
      // pending but leased: another consumer holds it, or one that failed after claiming it did; try
      // again once the lease is over (a duplicate then finds it finished), never drop it
      message.retry({ delaySeconds: LEASE_SECONDS });
      continue;
    }
    const ended = decision?.kind === 'final' || finished.has(body.delivery_id);
    if (ended && body.partition_key !== null) {
      await env.TENANT_LOG.getByName(body.tenant_id).finishOrdered(body.subscription_id, body.partition_key, body.delivery_id);
    }
    if (decision?.kind === 'final' && decision.status === 'failed') await env.DEAD_LETTER_QUEUE.send({ reason: 'exhausted', ...body });
    message.ack();
  }
}

