/**
 * The I/O of one batch of delivery messages; what each message comes to is decided by `settle`
 * (src/delivery/settle.ts). One round trip claims and loads the deliveries, the attempts run with
 * bounded concurrency (Workers allow 6 simultaneous connections), one round trip records them all.
 *
 * A claim leases its deliveries for LEASE_SECONDS and the batch renews the lease while its attempts
 * run, so a duplicate message cannot start a second attempt of a delivery this batch has yet to try,
 * and a consumer that dies frees its deliveries within a minute. When the database fails after the
 * attempts ran, recording is retried on fresh connections for a while, so a short outage neither
 * loses the attempts nor leaves the deliveries waiting out their lease.
 */
import { attemptDelivery } from '../delivery/attempt';
import type { Exchange } from '../delivery/exchange';
import { breakerEvents, releaseRecovered } from '../delivery/breaker';
import { disabledSubscriptionEvents, settle, type AttemptRun, type DeliveryState, type SystemEventSpec } from '../delivery/settle';
import { configOf } from '../config';
import { withExchange } from '../delivery/attempt-record';
import { lifecycleEvents } from '../delivery/lifecycle';
import { withLifecycleAudience } from '../delivery/lifecycle-audience';
import { systemEvent } from '../delivery/system-events';
import { connect, type Db } from '../db/client';
import {
  claimDeliveries,
  deliveryStatuses,
  receivedSpan,
  type ReceivedSpan,
  recordAttempts,
  renewLeases,
  type AttemptRecord,
  type ClaimedDelivery,
  type DeliveryStatus,
  type SubscriptionHealth,
} from '../db/deliveries-consumer';
import { bumpConfigVersion } from '../db/tenants';
import type { AppendItem } from '../ingest/log-types';
import { open } from '../lib/secret-box';
import type { SandboxProvider } from '../sandbox';
import { announceConfigVersion } from '../tenancy/config-change';
import type { DeliveryMessage } from '../lib/queue-messages';
import { startAttemptSpan } from '../observability/delivery-spans';
import { exportSpans, spanRecorder, type SpanRecorder } from '../observability/spans';
import { shardLog } from '../tenancy/shard-routing';
import { finishOrderedLine } from '../tenancy/line-follow';

const CONCURRENCY = 6;
export const LEASE_SECONDS = 60;
/** Renewal interval of a running batch's leases: a third of the lease. */
const RENEW_EVERY_MS = (LEASE_SECONDS * 1000) / 3;
/** Waits between tries to record attempts that already ran while the database is failing (~15 s in all). */
const RECORD_RETRY_MS = [1_000, 2_000, 4_000, 8_000];

export interface BatchProgress {
  /** Set once the claim committed (its leases then hold until recorded or over). */
  claimed: boolean;
  /** Connections opened after the batch's own failed; ended with the batch. */
  replacements: Db[];
}

export async function deliverBatch(
  first: Db,
  env: Env,
  ctx: ExecutionContext,
  bodies: Map<Message<unknown>, DeliveryMessage>,
  batch: BatchProgress,
  sandboxes?: SandboxProvider,
): Promise<void> {
  let db = first;
  const ids = [...new Set([...bodies.values()].map((b) => b.delivery_id))];
  // messages name their event's received_at, so the claim plans over the partitions it needs alone
  const span = receivedSpan([...bodies.values()].map((b) => b.event_received_at));
  const claimed = new Map((await claimDeliveries(db, ids, LEASE_SECONDS, span)).map((d) => [d.id, d]));
  batch.claimed = true;
  // not claimed: finished (a duplicate message), gone (its subscription was deleted), leased, or held by a pause
  const others = new Map(
    (
      await deliveryStatuses(
        db,
        ids.filter((id) => !claimed.has(id)),
      )
    ).map((d) => [d.id, d]),
  );
  const spans = spanRecorder(env);
  const exchanges = new Map<string, Exchange>();
  const runs = await runAttempts(db, env, claimed, sandboxes, spans, exchanges);
  ctx.waitUntil(exportSpans(spans));

  const now = Date.now();
  const scale = configOf(env).retryScale;
  const attempted = new Set<string>();
  const settled = [...bodies].map(([message, body]) => ({
    message,
    body,
    s: settle({ message: body, state: stateOf(body.delivery_id, claimed, others, runs, attempted), now, scale }),
  }));
  const acked = settled.flatMap(({ s }) => (s.kind === 'ack' ? [s] : []));

  const records = settled.flatMap(({ s }) => (s.record ? [withExchange(s.record, exchanges.get(s.record.delivery_id))] : []));
  const gone = acked.flatMap((s) => (s.gone ? [s.gone] : []));
  let health: SubscriptionHealth[] = [];
  if (records.length > 0) {
    const recordedSpan = receivedSpan(records.map((r) => claimed.get(r.delivery_id)?.event_received_at));
    const recorded = await recordWithRetries(db, env, ctx, records, gone, recordedSpan);
    health = recorded.health;
    if (recorded.db !== db) batch.replacements.push((db = recorded.db));
  }

  // system events, per tenant, after the attempts are on record
  const disabled = disabledSubscriptionEvents(health, Date.now());
  // one lifecycle event per attempt on record (src/delivery/lifecycle.ts)
  const lifecycle = records.flatMap((r) => {
    const d = claimed.get(r.delivery_id);
    return d ? lifecycleEvents(r, d) : [];
  });
  await emit(env, await withLifecycleAudience(db, [...lifecycle, ...acked.flatMap((s) => s.events), ...disabled, ...breakerEvents(health, Date.now())]));
  for (const { tenantId } of disabled) await announceConfigVersion(env, tenantId, await bumpConfigVersion(db, tenantId));
  await releaseRecovered(env, db, health);

  for (const { message, body, s } of settled) {
    if (s.kind === 'retry') {
      message.retry({ delaySeconds: s.delaySeconds });
      continue;
    }
    if (s.release)
      // the line may have moved to another shard since the message was sent (tenancy/line-follow.ts)
      await finishOrderedLine(env, s.release);
    if (s.deadLetter) await env.DEAD_LETTER_QUEUE.send({ reason: 'exhausted', ...body });
    message.ack();
  }
}

function stateOf(
  id: string,
  claimed: Map<string, ClaimedDelivery>,
  others: Map<string, DeliveryStatus>,
  runs: Map<string, AttemptRun>,
  attempted: Set<string>,
): DeliveryState {
  const delivery = claimed.get(id);
  if (delivery) {
    // two copies of one message in a batch: the first carries the attempt, the other is a duplicate
    if (attempted.has(id)) return { kind: 'repeated' };
    attempted.add(id);
    return { kind: 'attempted', delivery, run: runs.get(id) ?? { result: { kind: 'retry', error: 'not run' }, latencyMs: 0, startedAt: new Date() } };
  }
  const other = others.get(id);
  if (!other) return { kind: 'missing' };
  if (other.status === 'scheduled') return { kind: 'scheduled', dueInSeconds: other.due_in, held: other.held };
  if (other.status !== 'pending') return { kind: 'finished' };
  // an attempt that began before the pause ends as it would have; only then is the delivery held
  return other.held && other.lease_left === 0 ? { kind: 'held' } : { kind: 'leased', leaseLeftSeconds: other.lease_left };
}

/** Runs the claimed deliveries' attempts, keeping their leases while slow receivers hold the batch. */
async function runAttempts(
  db: Db,
  env: Env,
  claimed: Map<string, ClaimedDelivery>,
  sandboxes: SandboxProvider | undefined,
  spans: SpanRecorder | null,
  exchanges: Map<string, Exchange>,
): Promise<Map<string, AttemptRun>> {
  const runs = new Map<string, AttemptRun>();
  const queue = [...claimed.values()];
  const allowlist = configOf(env).egressAllowlist;
  const renewing = setInterval(() => {
    renewLeases(db, [...claimed.keys()], LEASE_SECONDS).catch((error: unknown) =>
      console.warn(JSON.stringify({ msg: 'lease renewal failed', error: String(error) })),
    );
  }, RENEW_EVERY_MS);
  try {
    await Promise.all(
      Array.from({ length: Math.min(CONCURRENCY, queue.length) }, async () => {
        for (let d = queue.shift(); d; d = queue.shift()) {
          const startedAt = new Date();
          const span = startAttemptSpan(spans, d);
          const exchange: Exchange = { request: null, response: null };
          exchanges.set(d.id, exchange);
          const result = d.subscription_enabled
            ? await attemptDelivery(d, {
                allowlist,
                secrets: await Promise.all(d.sealed_secrets.map((s) => open(env.ENCRYPTION_KEY, s))),
                encryptionKey: env.ENCRYPTION_KEY,
                sandbox: sandboxes?.(d.tenant_id),
                email: env.SEND_EMAIL,
                fetchImpl: span?.fetchImpl,
                exchange,
              })
            : ({ kind: 'rejected', error: 'the subscription is disabled' } as const);
          span?.end(result);
          runs.set(d.id, { result, latencyMs: Date.now() - startedAt.getTime(), startedAt });
        }
      }),
    );
  } finally {
    clearInterval(renewing);
  }
  return runs;
}

/** Appends the system events, one call per tenant. */
async function emit(env: Env, specs: SystemEventSpec[]): Promise<void> {
  const byTenant = new Map<string, AppendItem[]>();
  for (const e of specs) byTenant.set(e.tenantId, [...(byTenant.get(e.tenantId) ?? []), await systemEvent(e.type, e.id, e.subject, e.data)]);
  // system events go to shard 0 (their ids are Switchyard's own: no claims)
  for (const [tenantId, items] of byTenant) await shardLog(env, tenantId, 0).appendSystem(tenantId, items);
}

/**
 * The attempts already ran: recording them is worth a short wait. Tries the batch's connection, then
 * fresh ones; the connection that worked carries on with the rest of the batch.
 */
async function recordWithRetries(
  db: Db,
  env: Env,
  ctx: ExecutionContext,
  records: AttemptRecord[],
  gone: string[],
  span: ReceivedSpan,
): Promise<{ health: SubscriptionHealth[]; db: Db }> {
  try {
    return { health: await recordAttempts(db, records, gone, span), db };
  } catch (error) {
    let last = error;
    for (const wait of RECORD_RETRY_MS) {
      console.warn(JSON.stringify({ msg: 'recording delivery attempts failed; retrying', attempts: records.length, retryInMs: wait, error: String(last) }));
      await new Promise((resolve) => setTimeout(resolve, wait));
      const fresh = await connect(env).catch((e: unknown) => ((last = e), null));
      if (!fresh) continue;
      try {
        return { health: await recordAttempts(fresh, records, gone, span), db: fresh };
      } catch (e) {
        last = e;
        ctx.waitUntil(fresh.end().catch(() => {}));
      }
    }
    throw last;
  }
}
