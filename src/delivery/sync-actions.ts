/**
 * Sync mode (README "Sync mode"): a subscription with `mode: "sync"` has its action run inside the
 * ingest request, once the TenantLog holds the event durably, within the subscription's
 * `sync_timeout_ms`; the 202 reports each outcome. Single-event requests only: a batch's events go
 * through the queue as usual.
 *
 * Rules a reader would not guess:
 * - The attempt is the consumer's own (`attemptDelivery`, `settle`, `recordAttempts`): same signing,
 *   same record, same retry schedule, same breaker and lifecycle events.
 * - No second delivery by the normal path: the sync delivery is claimed in Postgres (`claimSync`)
 *   under the id the outbox flush derives for it, leased past the timeout. The flush's insert of that
 *   row is then a no-op, and its queue message finds the delivery leased (tried again after the lease)
 *   or finished (acknowledged). A sync attempt that fails or times out stays leased until its retry is
 *   due, so that message becomes the schedule's next attempt. If the Worker dies mid-way, the lease
 *   runs out and the consumer attempts it: at least once, with the same `webhook-id`.
 * - Bounded: at most {@link MAX_SYNC_ACTIONS} sync subscriptions per event (the others, by id, go
 *   async), matched against a cached copy of the tenant's sync subscriptions that follows the tenant
 *   config version; a tenant without any costs one cache lookup per isolate per RULES_TTL_MS.
 * - Never an error: whatever happens here, the event is already accepted; a sync action that could
 *   not run is reported `skipped`, and the normal path delivers it.
 */
import { configOf } from '../config';
import type { Db } from '../db/client';
import { receivedSpan, recordAttempts, type ClaimedDelivery } from '../db/deliveries-consumer';
import { claimSync, holdUntilRetry, loadSyncRouting } from '../db/deliveries-sync';
import { bumpConfigVersion } from '../db/tenants';
import type { AppendItem } from '../ingest/log-types';
import { timeOfId } from '../lib/ids';
import { open } from '../lib/secret-box';
import type { ScriptSandbox } from '../plugins/types';
import { announceConfigVersion } from '../tenancy/config-change';
import { throughShared } from '../tenancy/shared-cache';
import { RULES_TTL_MS } from '../tenancy/tenant-rules';
import { attemptDelivery, type AttemptResult } from './attempt';
import { withExchange } from './attempt-record';
import { breakerEvents } from './breaker';
import type { Exchange } from './exchange';
import { compileRoutes, planDeliveries, type Route } from './fan-out';
import { lifecycleEvents } from './lifecycle';
import { withLifecycleAudience } from './lifecycle-audience';
import { notBefore } from './schedule';
import { disabledSubscriptionEvents, settle, type AttemptRun, type SystemEventSpec } from './settle';
import { systemEvent } from './system-events';
import { shardLog } from '../tenancy/shard-routing';

export const MAX_SYNC_TIMEOUT_MS = 5_000;
export const MAX_SYNC_ACTIONS = 3;
/** The claim's lease outlasts the timeout by this much, for the recording after it. */
const LEASE_MARGIN_SECONDS = 3;
/** After a timeout, how long the aborted attempt may take to hand back the request it sent, for the record. */
const ABORT_GRACE_MS = 250;
const MAX_TENANTS = 5_000;
const FAILED_LOOKUP_TTL_MS = 5_000;

export type SyncStatus = 'delivered' | 'failed' | 'timeout' | 'skipped';

/** One sync action's outcome, as the 202 reports it. */
export interface SyncAction {
  subscription_id: string;
  status: SyncStatus;
  /** The receiver's HTTP status, when it answered. */
  response_status?: number;
  /** Why a `skipped` one did not run here (it is delivered through the queue). */
  detail?: string;
}

export interface SyncInput {
  tenantId: string;
  /** The tenant config version the event was accepted under: a newer one reloads the sync subscriptions. */
  configVersion: number;
  accepted: { id: string; sequence: number };
  item: AppendItem;
  receivedAt: number;
}

export interface SyncDeps {
  env: Env;
  /** Runs work on a database connection of the request. */
  withDb<T>(work: (db: Db) => Promise<T>): Promise<T>;
  waitUntil(p: Promise<unknown>): void;
  sandbox?: ScriptSandbox;
}

type SyncRoute = Route & { timeoutMs: number };
const cache = new Map<string, { version: number; expires: number; routes: SyncRoute[] }>();

/**
 * The tenant's sync subscriptions, compiled: from isolate memory, else Redis, else Postgres, as the
 * tenant's rules are (a copy older than the accepted event's config version is not used). A lookup
 * that fails counts as none for a moment, so an outage costs ingest one slow lookup, not one per event.
 */
async function syncRoutes(deps: SyncDeps, tenantId: string, version: number): Promise<SyncRoute[]> {
  const hit = cache.get(tenantId);
  if (hit && hit.version >= version && hit.expires > Date.now()) return hit.routes;
  let routes: SyncRoute[] = [];
  let ttl = RULES_TTL_MS;
  try {
    const loaded = await throughShared(
      deps.env,
      `sy:v1:sync:${tenantId}`,
      () => deps.withDb((db) => loadSyncRouting(db, tenantId)),
      deps.waitUntil,
      (copy) => copy.version >= version,
    );
    // an ordered subscription cannot be sync (the API refuses it); one left so is delivered in order, async
    const rows = (loaded?.subscriptions ?? []).filter((r) => r.ordering === 'none');
    routes = compileRoutes(rows).map((route, i) => ({ ...route, timeoutMs: rows[i]!.sync_timeout_ms }));
  } catch (error) {
    ttl = FAILED_LOOKUP_TTL_MS;
    console.warn(JSON.stringify({ msg: 'sync subscriptions lookup failed; their events go async', tenantId, error: String(error) }));
  }
  if (!hit && cache.size >= MAX_TENANTS) cache.delete(cache.keys().next().value!);
  cache.set(tenantId, { version, expires: Date.now() + ttl, routes });
  return routes;
}

const skipped = (subscriptionId: string, detail: string): SyncAction => ({ subscription_id: subscriptionId, status: 'skipped', detail });

/** Runs the accepted event's sync actions; an empty list when it has none. Throws only for infrastructure faults (the caller reports them as skipped). */
export async function runSyncActions(input: SyncInput, deps: SyncDeps): Promise<SyncAction[]> {
  const routes = await syncRoutes(deps, input.tenantId, input.configVersion);
  if (routes.length === 0) return [];
  const { item, accepted } = input;
  const parsed = JSON.parse(item.json) as Record<string, unknown>;
  const routed = {
    id: accepted.id,
    sequence: accepted.sequence,
    type: item.type,
    subject: item.subject,
    partition_key: item.partitionKey,
    priority: parsed.priority,
    event: item.json,
  };
  const planned = await planDeliveries([routed], routes);
  if (planned.length === 0) return [];
  // an event that must wait is delivered in its time, through the queue (src/delivery/schedule.ts)
  const due = notBefore(parsed.deliverat, input.receivedAt, 0);
  if (due !== null && due > Date.now()) return planned.map((p) => skipped(p.subscriptionId, 'the event is scheduled (deliverat): delivered in its time'));
  const targets = planned.slice(0, MAX_SYNC_ACTIONS);
  const over = planned.slice(MAX_SYNC_ACTIONS).map((p) => skipped(p.subscriptionId, `more than ${MAX_SYNC_ACTIONS} sync actions match: delivered async`));
  const timeouts = new Map(routes.map((r) => [r.id, r.timeoutMs]));
  const timeoutOf = (subscriptionId: string) => timeouts.get(subscriptionId) ?? MAX_SYNC_TIMEOUT_MS;
  const leaseSeconds = Math.ceil(Math.max(...targets.map((t) => timeoutOf(t.subscriptionId))) / 1000) + LEASE_MARGIN_SECONDS;

  // the received_at the TenantLog stored, which its id carries: the flush's insert of these rows meets them in their partition
  const receivedAt = timeOfId(accepted.id) ?? input.receivedAt;
  const ran = await deps.withDb(async (db) => {
    const rows = await claimSync(
      db,
      input.tenantId,
      { id: accepted.id, sequence: accepted.sequence, partitionKey: targets[0]!.partitionKey, receivedAt },
      targets.map((t) => ({ deliveryId: t.id, subscriptionId: t.subscriptionId, priority: t.priority })),
      leaseSeconds,
    );
    const claimed = rows.map((r): ClaimedDelivery => ({ ...r, event: parsed }));
    const runs = await Promise.all(claimed.map((d) => runBounded(d, timeoutOf(d.subscription_id), deps)));
    await recordRuns(db, deps.env, runs, receivedAt);
    return new Map(runs.map((r) => [r.delivery.subscription_id, r]));
  });
  const outcomes = targets.map((t): SyncAction => {
    const run = ran.get(t.subscriptionId);
    if (!run) return skipped(t.subscriptionId, 'paused, circuit open, or already on its way: delivered async');
    return outcomeOf(t.subscriptionId, run.run.result, run.timedOut);
  });
  return [...outcomes, ...over];
}

interface BoundedRun {
  delivery: ClaimedDelivery;
  run: AttemptRun;
  timedOut: boolean;
  exchange: Exchange;
}

/** One attempt, cut off at `timeoutMs`: its fetches are aborted and the attempt counts as failed. */
async function runBounded(delivery: ClaimedDelivery, timeoutMs: number, deps: SyncDeps): Promise<BoundedRun> {
  const { env } = deps;
  const startedAt = new Date();
  const exchange: Exchange = { request: null, response: null };
  const deadline = new AbortController();
  const fetchImpl = ((input: RequestInfo | URL, init?: RequestInit) =>
    fetch(input, { ...init, signal: init?.signal ? AbortSignal.any([init.signal, deadline.signal]) : deadline.signal })) as typeof fetch;
  const attempt = attemptDelivery(delivery, {
    allowlist: configOf(env).egressAllowlist,
    secrets: await Promise.all(delivery.sealed_secrets.map((s) => open(env.ENCRYPTION_KEY, s))),
    encryptionKey: env.ENCRYPTION_KEY,
    sandbox: deps.sandbox,
    email: env.SEND_EMAIL,
    fetchImpl,
    exchange,
  });
  let timer: ReturnType<typeof setTimeout> | null = null;
  const expired = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), timeoutMs)));
  const result = await Promise.race([attempt, expired]);
  clearTimeout(timer);
  const latencyMs = () => Date.now() - startedAt.getTime();
  if (result) return { delivery, run: { result, startedAt, latencyMs: latencyMs() }, timedOut: false, exchange };
  deadline.abort(new DOMException(`no answer within ${timeoutMs} ms`, 'TimeoutError'));
  await Promise.race([attempt.catch(() => null), new Promise((resolve) => setTimeout(resolve, ABORT_GRACE_MS))]);
  const timedOut: AttemptResult = { kind: 'retry', error: `no answer within the sync timeout of ${timeoutMs} ms` };
  return { delivery, run: { result: timedOut, startedAt, latencyMs: latencyMs() }, timedOut: true, exchange };
}

/**
 * Records the attempts as the consumer does, holds the failed ones until their retry, and emits the
 * events. `receivedAt` is their event's (epoch ms), the claim's partition key: a dead-lettered one's message carries it.
 */
async function recordRuns(db: Db, env: Env, runs: BoundedRun[], receivedAt: number): Promise<void> {
  if (runs.length === 0) return;
  const now = Date.now();
  const scale = configOf(env).retryScale;
  const settled = runs.map((r) => ({
    r,
    s: settle({
      message: { tenant_id: r.delivery.tenant_id, delivery_id: r.delivery.id, subscription_id: r.delivery.subscription_id, partition_key: null },
      state: { kind: 'attempted', delivery: r.delivery, run: r.run },
      now,
      scale,
    }),
  }));
  const records = settled.flatMap(({ r, s }) => (s.record ? [withExchange(s.record, r.exchange)] : []));
  const gone = settled.flatMap(({ s }) => (s.kind === 'ack' && s.gone ? [s.gone] : []));
  // bounded by the event's partition, as the consumer's record is: an unbounded one would lock every day's
  // partition of deliveries, and wait on (or deadlock with) partition maintenance dropping an old one
  const health = await recordAttempts(db, records, gone, receivedSpan([receivedAt]));
  const tenantId = runs[0]!.delivery.tenant_id;
  await holdUntilRetry(
    db,
    tenantId,
    records.flatMap((r) => (r.status === 'pending' && r.next_attempt_at ? [{ id: r.delivery_id, until: r.next_attempt_at }] : [])),
  );
  const lifecycle = settled.flatMap(({ r, s }) => (s.record ? lifecycleEvents(s.record, r.delivery) : []));
  const disabled = disabledSubscriptionEvents(health, now);
  const acked = settled.flatMap(({ s }) => (s.kind === 'ack' ? s.events : []));
  await emit(env, tenantId, await withLifecycleAudience(db, [...lifecycle, ...acked, ...disabled, ...breakerEvents(health, now)]));
  if (disabled.length > 0) await announceConfigVersion(env, tenantId, await bumpConfigVersion(db, tenantId));
  for (const { r, s } of settled) {
    if (s.kind === 'ack' && s.deadLetter) {
      await env.DEAD_LETTER_QUEUE.send({
        reason: 'exhausted',
        type: 'delivery.v1',
        tenant_id: tenantId,
        delivery_id: r.delivery.id,
        subscription_id: r.delivery.subscription_id,
        partition_key: null,
        event_received_at: receivedAt,
      });
    }
  }
}

async function emit(env: Env, tenantId: string, specs: SystemEventSpec[]): Promise<void> {
  if (specs.length === 0) return;
  const items = await Promise.all(specs.map((e) => systemEvent(e.type, e.id, e.subject, e.data)));
  await shardLog(env, tenantId, 0).appendSystem(tenantId, items);
}

function outcomeOf(subscriptionId: string, result: AttemptResult, timedOut: boolean): SyncAction {
  const response = 'status' in result && typeof result.status === 'number' ? { response_status: result.status } : {};
  if (timedOut) return { subscription_id: subscriptionId, status: 'timeout' };
  switch (result.kind) {
    case 'delivered':
      return { subscription_id: subscriptionId, status: 'delivered', ...response };
    case 'skipped':
      return { subscription_id: subscriptionId, status: 'skipped', detail: result.reason };
    default:
      return { subscription_id: subscriptionId, status: 'failed', ...response };
  }
}
