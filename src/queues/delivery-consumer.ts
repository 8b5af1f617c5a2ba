/**
 * The delivery queue's consumer. Each message ends in an explicit `ack()` or `retry({delaySeconds})`
 * decided by the retry policy; a message that does not parse is dead-lettered, never retried.
 *
 * Per batch: one round trip claims and loads the deliveries, the attempts run with bounded
 * concurrency (Workers allow 6 simultaneous connections), one round trip records them all.
 *
 * A claim leases its deliveries for LEASE_SECONDS and the batch renews the lease while its attempts
 * run, so a duplicate message cannot start a second attempt of a delivery this batch has yet to try,
 * and a consumer that dies frees its deliveries within a minute. When the database fails after the
 * attempts ran, recording is retried on fresh connections for a while, so a short outage neither
 * loses the attempts nor leaves the deliveries waiting out their lease.
 */
import { attemptDelivery, type AttemptResult } from '../delivery/attempt';
import { parseAllowlist } from '../delivery/ssrf-guard';
import { nextStep, retryPolicy } from '../delivery/retry-policy';
import { SYSTEM_PREFIX, systemEvent } from '../delivery/system-events';
import { connect, withDb, type Db } from '../db/client';
import { claimDeliveries, deliveryStatuses, recordAttempts, renewLeases, type AttemptRecord, type SubscriptionHealth } from '../db/deliveries';
import { bumpConfigVersion } from '../db/tenants';
import type { AppendItem } from '../durable/log-types';
import { open } from '../lib/secret-box';
import { requestSandboxes, type SandboxProvider } from '../plugins/sandbox';
import { announceConfigVersion } from '../tenancy/config-change';
import { queueMessage, type DeliveryMessage, type QueueMessage } from './messages';
import { runReplayStep } from './replay-step';

const CONCURRENCY = 6;
const LEASE_SECONDS = 60;
/** Renewal interval of a running batch's leases: a third of the lease. */
const RENEW_EVERY_MS = (LEASE_SECONDS * 1000) / 3;
/** When the claim itself failed, nothing is leased: the batch is tried again this soon. */
const UNCLAIMED_RETRY_SECONDS = 5;
/** Waits between tries to record attempts that already ran while the database is failing (~15 s in all). */
const RECORD_RETRY_MS = [1_000, 2_000, 4_000, 8_000];

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
  const progress: BatchProgress = { claimed: false, replacements: [] };
  try {
    await withDb(env, (db) => deliverBatch(db, env, ctx, bodies, progress, requestSandboxes(env, ctx)), (p) => ctx.waitUntil(p));
  } catch (error) {
    // nothing recorded: the whole batch is tried again, once the leases it took (if any) are over
    const delaySeconds = progress.claimed ? LEASE_SECONDS : UNCLAIMED_RETRY_SECONDS;
    console.error(JSON.stringify({ msg: 'delivery batch failed', size: deliveries.length, claimed: progress.claimed, retryInSeconds: delaySeconds, error: String(error) }));
    for (const message of deliveries) message.retry({ delaySeconds });
  } finally {
    for (const db of progress.replacements) ctx.waitUntil(db.end().catch(() => {}));
  }
}

interface BatchProgress {
  /** Set once the claim committed (its leases then hold until recorded or over). */
  claimed: boolean;
  /** Connections opened after the batch's own failed; ended with the batch. */
  replacements: Db[];
}

async function deliverBatch(
  first: Db,
  env: Env,
  ctx: ExecutionContext,
  bodies: Map<Message<unknown>, DeliveryMessage>,
  batch: BatchProgress,
  sandboxes?: SandboxProvider,
): Promise<void> {
  let db = first;
  const ids = [...new Set([...bodies.values()].map((b) => b.delivery_id))];
  const claimed = new Map((await claimDeliveries(db, ids, LEASE_SECONDS)).map((d) => [d.id, d]));
  batch.claimed = true;
  // not claimed: finished (a duplicate message), gone (its subscription was deleted), or leased
  const others = await deliveryStatuses(db, ids.filter((id) => !claimed.has(id)));
  const finished = new Set(others.filter((d) => d.status !== 'pending').map((d) => d.id));
  const leased = new Map(others.filter((d) => d.status === 'pending').map((d) => [d.id, d.lease_left]));

  const started = new Date();
  const runs = new Map<string, { result: AttemptResult; latencyMs: number; startedAt: Date }>();
  const queue = [...claimed.values()];
  const allowlist = parseAllowlist(env.EGRESS_ALLOWLIST);
  // slow receivers can keep a batch busy for longer than a lease: keep the unrecorded ones leased
  const renewing = setInterval(() => {
    renewLeases(db, [...claimed.keys()], LEASE_SECONDS).catch((error: unknown) => console.warn(JSON.stringify({ msg: 'lease renewal failed', error: String(error) })));
  }, RENEW_EVERY_MS);
  try {
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
  } finally {
    clearInterval(renewing);
  }

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
  let health: SubscriptionHealth[] = [];
  if (records.length > 0) {
    const recorded = await recordWithRetries(db, env, ctx, records, gone);
    health = recorded.health;
    if (recorded.db !== db) batch.replacements.push((db = recorded.db));
  }

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
      message.retry({ delaySeconds: Math.max(1, leased.get(body.delivery_id)!) + 1 });
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

/**
 * The attempts already ran: recording them is worth a short wait. Tries the batch's connection, then
 * fresh ones; the connection that worked carries on with the rest of the batch.
 */
async function recordWithRetries(db: Db, env: Env, ctx: ExecutionContext, records: AttemptRecord[], gone: string[]): Promise<{ health: SubscriptionHealth[]; db: Db }> {
  try {
    return { health: await recordAttempts(db, records, gone), db };
  } catch (error) {
    let last = error;
    for (const wait of RECORD_RETRY_MS) {
      console.warn(JSON.stringify({ msg: 'recording delivery attempts failed; retrying', attempts: records.length, retryInMs: wait, error: String(last) }));
      await new Promise((resolve) => setTimeout(resolve, wait));
      const fresh = await connect(env).catch((e: unknown) => ((last = e), null));
      if (!fresh) continue;
      try {
        return { health: await recordAttempts(fresh, records, gone), db: fresh };
      } catch (e) {
        last = e;
        ctx.waitUntil(fresh.end().catch(() => {}));
      }
    }
    throw last;
  }
}
