/**
 * One TenantLog per tenant: the single writer that deduplicates, sequences and durably records events
 * before ingest answers. The event and its outbox row are written in one synchronous SQLite
 * transaction, so the output gate releases the 202 only once both are on disk.
 *
 * An alarm drains the outbox: one Postgres statement stores a batch of events and the deliveries
 * they fan out to; then, in one SQLite transaction, the rows leave the outbox and the queue messages
 * to send are staged in `dispatch` (ordered deliveries wait in their line, one in flight per key).
 * Staged messages are sent with `sendBatch` and removed once the queue took them. Every step is
 * retried with backoff and idempotent, so a crash or an outage anywhere loses nothing. A row Postgres
 * refuses for its data is quarantined (store-batch.ts) instead of blocking the rows behind it; its
 * sequence stays taken. The tables and their statements live in outbox-store.ts, dispatch-store.ts
 * and quarantine-store.ts; a group's write in append-write.ts, one flush step in flush-step.ts, and
 * what a shard-count change blocks or redirects in slot-routing.ts. This class holds the in-memory
 * state and the order of the steps.
 *
 * The log also serves the tenant's live event stream (stream-hub.ts): `fetch` opens a listener
 * (a hibernatable WebSocket or an SSE stream), every committed append is published to the listeners
 * after it answered, and the alarm that flushes also closes listeners whose token expired.
 */
import { DurableObject } from 'cloudflare:workers';
import { sharedConnection, type SharedConnection } from '../db/shared-connection';
import type { QuarantinedEvent } from '../db/quarantine';
import { FLUSH_COALESCE_MS, flushBackoffMs } from '../ingest/flush-policy';
import { problem } from '../lib/problem';
import {
  DISPATCH_SCHEMA,
  dispatchDepth,
  finishOrdered,
  orderedDepth,
  redriveDeliveries,
  releaseHead,
  stageDeliveries,
  type StrandedDelivery,
  upgradeDispatchSchema,
} from './dispatch-store';
import type { AppendItem, AppendRequest, AppendResponse, AppendResult, ClaimRequest, ClaimResult, LogStatus } from '../ingest/log-types';
import { type OneAppendValues, packResponse, type PackedAppendRequest, type PackedAppendResponse, unpackItems, unpackOne } from '../ingest/packed-append';
import { SEQUENCE_STRIDE } from '../tenancy/shard-routing';
import { adoptHandoffPage, type HandoffPage } from './slot-handoff-store';
import { insertPlanSlots, loadSlotMoves, markAdopted, SLOT_MOVE_SCHEMA, type SlotMoves, upgradeSlotColumns, writePlan } from './slot-move-store';
import { driveMove, FENCE_MS, learnEpoch, unfence } from './slot-move';
import { hasLine, judge, lineAway, movePlan, type Routing, slotBusy, splitMoved } from './slot-routing';
import type { LineAnswer, MovedItems } from '../tenancy/line-follow';
import { CLAIM_SCHEMA, claimIds, forgetExpiredClaims } from './claim-store';
import { forgetExpired, oldestOutboxAt, outboxDepth, prepareOutbox } from './outbox-store';
import { META_SCHEMA, readMeta, writeMeta } from './meta-store';
import { keptCount, listKept, QUARANTINE_SCHEMA } from './quarantine-store';
import { groupCommit, type GroupCommit } from './group-commit';
import { liveEvents, type PendingAppend, prunedSubjectHeads, writeAppendGroup } from './append-write';
import { drainDispatch, type FlushHost, flushOutbox, type RouteCache } from './flush-step';
import { hasPruned, pruneHeads, SUBJECT_HEAD_IDLE_MS, SUBJECT_HEAD_SCHEMA, upgradeSubjectHeads } from './subject-head-store';
import { alarmSpans } from '../observability/log-spans';
import { exportSpans } from '../observability/spans';
import { CLOSE, createStreamHub, STREAM_SCHEMA, type StreamHub } from './stream-hub';

export { FLUSH_BATCH, FLUSH_CHARS } from './flush-step';
/**
 * Appends arriving in company wait this long for more before their group is written, unless they hold
 * this many events already (group-commit.ts `gather`). On a slow 2-core host it took single-event
 * ingest at saturation from 824–899 to 1,003–1,090 requests/s and the groups from 5.5 to about 14
 * requests (README "Performance").
 */
/** An id-claim call (`claim`): which shard it was sent to, the window, the claims, and the change it was routed under. */
type ClaimCall = { shard: number; dedupWindowSeconds: number; claims: ClaimRequest[] } & Routing;
/** What the group commit writes: an append, or a call's id claims. */
type PendingClaim = { claim: ClaimCall };
type PendingWrite = PendingAppend | PendingClaim;

const GATHER_MS = 4;
/** A group of at least this many appends keeps the next ones waiting for company for GATHER_MEMORY_MS: a producer with fewer requests in flight never waits. */
const GATHER_SIBLINGS = 4;
const GATHER_MEMORY_MS = 100;
const GATHER_MAX_EVENTS = 64;
/** Under a backlog one alarm keeps flushing batches for up to this long, instead of paying an alarm per batch. */
const FLUSH_SLICE_MS = 1_000;

const SCHEMA = `
${META_SCHEMA}
${DISPATCH_SCHEMA}
${QUARANTINE_SCHEMA}
${STREAM_SCHEMA}
${SUBJECT_HEAD_SCHEMA}
${CLAIM_SCHEMA}
${SLOT_MOVE_SCHEMA}`;

export class TenantLog extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private lastSequence = 0;
  /** Which shard of its tenant this log is: its sequences start at shard·10^13 (sharding.md §1). */
  private shard = 0;
  /** The newest `received_at` this log stamped: appends never stamp an earlier one (a clock that stepped back is clamped). */
  private lastReceivedAt = 0;
  /** The newest shard-count change this log has heard of: appends routed under an older one are stale. */
  private epoch = 0;
  /** Slots this log hands over or took over in shard-count changes (slot-move-store.ts). */
  private moves: SlotMoves;
  private tenantId: string | null = null;
  private configVersion = 0;
  private readonly routes: RouteCache = { compiled: null };
  /** Kept open between flushes (a Durable Object may reuse I/O across its requests): one round trip per batch. */
  private readonly postgres: SharedConnection;
  private flushScheduled = false;
  private flushFailures = 0;
  private nextFlushAt: number | null = null;
  /** Set once the tenant is deleted: appends are refused and nothing more is flushed. */
  private deleted = false;
  private readonly stream: StreamHub;
  /** Appends and id claims arriving while a commit is in flight are written together in the next commit (group-commit.ts). */
  private readonly writes: GroupCommit<PendingWrite, AppendResult[] | ClaimResult[] | null | 'stale'>;
  /** The last group wrote events, so the flush alarm must be armed. */
  private unflushedAppend = false;
  /** Idle subject heads were pruned once: a guarded subject without a row needs its head from Postgres. */
  private prunedHeads = false;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.postgres = sharedConnection(env);
    this.sql.exec(SCHEMA);
    prepareOutbox(this.sql);
    // one transaction: its table rebuild must not stop halfway
    ctx.storage.transactionSync(() => upgradeDispatchSchema(this.sql));
    upgradeSubjectHeads(this.sql);
    upgradeSlotColumns(this.sql);
    this.moves = loadSlotMoves(this.sql);
    this.prunedHeads = hasPruned(this.sql);
    ({
      lastSequence: this.lastSequence,
      tenantId: this.tenantId,
      configVersion: this.configVersion,
      deleted: this.deleted,
      shard: this.shard,
      lastReceivedAt: this.lastReceivedAt,
      epoch: this.epoch,
    } = readMeta(this.sql));
    this.stream = createStreamHub({ ctx, sql: this.sql, env, head: () => this.lastSequence, position: () => [this.advanceClock(false), this.lastSequence] });
    this.writes = groupCommit<PendingWrite, AppendResult[] | ClaimResult[] | null | 'stale'>({
      write: (group) => this.writeGroup(group),
      afterWrite: async () => {
        if (!this.unflushedAppend) return;
        this.unflushedAppend = false;
        if (!this.flushScheduled) await this.scheduleFlush(Date.now() + FLUSH_COALESCE_MS);
      },
      durable: () => ctx.storage.sync(),
      gather: {
        ms: GATHER_MS,
        siblings: GATHER_SIBLINGS,
        memoryMs: GATHER_MEMORY_MS,
        maxWeight: GATHER_MAX_EVENTS,
        weight: (w) => ('claim' in w ? w.claim.claims.length : w.items.length),
      },
    });
    // answered by the runtime without waking the object
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair('ping', 'pong'));
    ctx.blockConcurrencyWhile(async () => {
      const alarm = await ctx.storage.getAlarm();
      this.flushScheduled = alarm !== null;
      this.nextFlushAt = alarm;
      if (!this.flushScheduled && this.hasWork()) await this.scheduleFlush(Date.now());
    });
  }

  /**
   * Dedups, sequences and records a batch, answered once durable. Results come back in input order.
   * Same (source, id) and same hash inside the window: the original sequence with `duplicate`;
   * a different hash: `conflict`; a subject head other than the event's `expectedsequence`:
   * `sequence_conflict`. An append made under an older tenant config than the log has seen when it
   * arrives is refused as `stale` without writing anything. Appends that arrive while a commit is in
   * flight share the next transaction, in arrival order (group commit).
   */
  async append(request: AppendRequest): Promise<AppendResponse> {
    if (this.deleted) return { kind: 'gone' };
    if (request.configVersion < this.configVersion) return { kind: 'stale', configVersion: this.configVersion };
    if (request.configVersion > this.configVersion) this.setConfigVersion(request.configVersion);
    if (request.shard) this.learnShard(request.shard);
    const epoch = request.epoch ?? 0;
    if (epoch < this.epoch) return { kind: 'stale', configVersion: this.configVersion };
    // the first append of a new change also plans it here, in case `planMove` was lost
    if (epoch > this.epoch && request.movingFrom != null && this.shard < request.movingFrom)
      await this.planMove({ tenantId: request.tenantId, shard: this.shard, epoch, from: request.movingFrom, to: request.shards ?? 1 });
    else if (epoch > this.epoch) this.setEpoch(epoch);
    const fallbackHeads = await prunedSubjectHeads(this.sql, this.postgres, this.prunedHeads, request.tenantId, request.items);
    const results = await this.submitAppend({
      tenantId: request.tenantId,
      dedupWindowSeconds: request.dedupWindowSeconds,
      items: request.items,
      fallbackHeads,
      claims: (request.shards ?? 1) > 1,
      shards: request.shards ?? 1,
      epoch,
      movingFrom: request.movingFrom ?? null,
    });
    if (results === 'stale') return { kind: 'stale', configVersion: this.configVersion };
    return results ? { kind: 'appended', results } : { kind: 'gone' };
  }

  /** `append` of one item as positional values, answered as JSON text: what ingest sends for a single event (src/ingest/packed-append.ts). */
  async appendOne(...values: OneAppendValues): Promise<string> {
    return JSON.stringify(await this.append(unpackOne(values)));
  }

  /** `append` with the items and the results as columns: what ingest sends for a batch (src/ingest/packed-append.ts). */
  async appendPacked(request: PackedAppendRequest): Promise<PackedAppendResponse> {
    return packResponse(await this.append({ ...request, items: unpackItems(request.items) }));
  }

  /**
   * This log is shard `shard` of its tenant: a log that has numbered nothing yet starts its sequences
   * at shard·10^13. A log's shard never changes (its name carries it).
   */
  private learnShard(shard: number): void {
    if (this.shard === shard || this.lastSequence !== 0) return;
    this.shard = shard;
    this.lastSequence = shard * SEQUENCE_STRIDE;
    this.ctx.storage.transactionSync(() => {
      writeMeta(this.sql, 'shard', shard);
      writeMeta(this.sql, 'last_sequence', this.lastSequence);
    });
  }

  /**
   * Id claims for events stored on other shards of a multi-shard tenant (claim-store.ts), written by
   * the group commit with the appends and claims that arrive meanwhile: answered once durable.
   */
  async claim(request: ClaimCall): Promise<ClaimResult[] | null | { kind: 'stale'; configVersion: number }> {
    if (this.deleted) return null;
    this.learnShard(request.shard);
    const epoch = request.epoch ?? 0;
    if (epoch < this.epoch) return { kind: 'stale', configVersion: this.configVersion };
    if (epoch > this.epoch) this.setEpoch(epoch);
    const results = (await this.writes.submit({ claim: request })) as ClaimResult[] | null | 'stale';
    return results === 'stale' ? { kind: 'stale', configVersion: this.configVersion } : results;
  }

  private submitAppend(append: PendingAppend): Promise<AppendResult[] | null | 'stale'> {
    return this.writes.submit(append) as Promise<AppendResult[] | null | 'stale'>;
  }

  /** The events this log stored under these ids inside the window (null: none), as the dedup table holds them. */
  dedupOf(keys: { sourceId: string; ceId: string }[]): ({ id: string; sequence: number } | null)[] {
    const now = Date.now();
    return keys.map(
      (k) =>
        this.sql
          .exec<{ id: string; sequence: number }>(
            'SELECT id, sequence FROM dedup WHERE source_id = ? AND ce_id = ? AND expires_at > ?',
            k.sourceId,
            k.ceId,
            now,
          )
          .toArray()[0] ?? null,
    );
  }

  /**
   * A change of the tenant's shard count (tenancy/shard-change.ts): this log (an old shard) records
   * which of its slots go to which new owner and arms its alarm, which drives the move (slot-move.ts).
   * Idempotent; a plan of an older epoch than one this log has seen is ignored.
   */
  async planMove(p: { tenantId: string; shard: number; epoch: number; from: number; to: number }): Promise<void> {
    if (this.deleted || p.epoch < this.epoch) return;
    this.learnShard(p.shard);
    const known = this.sql.exec('SELECT 1 FROM move_plan WHERE epoch = ?', p.epoch).toArray().length > 0;
    if (!known) {
      const plan = movePlan(this.shard, p);
      this.ctx.storage.transactionSync(() => {
        if (this.tenantId === null) writeMeta(this.sql, 'tenant_id', p.tenantId);
        writePlan(this.sql, plan);
        insertPlanSlots(this.sql, plan);
        this.setEpoch(p.epoch);
      });
      this.tenantId ??= p.tenantId;
      this.moves.plan = plan;
      // live streams read a fixed set of shards (one log, or the mux over the old span): they end, and
      // their clients resume from their cursors on the new set (1012, as a restart)
      this.stream.closeAll(CLOSE.restarting);
    }
    if (!this.flushScheduled || (this.nextFlushAt ?? 0) > Date.now()) await this.scheduleFlush(Date.now());
  }

  /**
   * Takes in one page of the handoff of slots an old shard released (slot-handoff-store.ts
   * `adoptHandoffPage`): idempotent. Only the last page adopts the slots, and then its next event is
   * stamped after the old owner's last (`floor`), so per-key order holds for readers. A call without
   * `page` (the previous version's single handoff) is page 0 of 1.
   */
  async adopt(r: { tenantId: string; shard: number; epoch: number; from: number; page?: number; pages?: number; handoff: HandoffPage }): Promise<void> {
    if (this.deleted) return;
    this.learnShard(r.shard);
    const page = { epoch: r.epoch, from: r.from, page: r.page ?? 0, pages: r.pages ?? 1, handoff: r.handoff };
    const last = page.page >= page.pages - 1;
    const floor = r.handoff.floor + 1;
    const lines = this.ctx.storage.transactionSync(() => {
      if (this.tenantId === null) writeMeta(this.sql, 'tenant_id', r.tenantId);
      const adopted = adoptHandoffPage(this.sql, this.moves.adopted, page);
      if (!adopted || !last) return adopted;
      if (floor > this.lastReceivedAt) writeMeta(this.sql, 'last_received_at', floor);
      for (const line of adopted) releaseHead(this.sql, r.tenantId, line.subscription_id, line.partition_key);
      return adopted;
    });
    this.tenantId ??= r.tenantId;
    if (lines === false) return;
    if (r.handoff.pruned) this.prunedHeads = true;
    if (!last) {
      await this.ctx.storage.sync();
      return;
    }
    markAdopted(this.moves, r.epoch, r.handoff.slots);
    this.lastReceivedAt = Math.max(this.lastReceivedAt, floor);
    if (r.epoch > this.epoch) this.setEpoch(r.epoch);
    await this.ctx.storage.sync();
    // the released heads go out with the next alarm
    if (lines.length > 0 && (!this.flushScheduled || (this.nextFlushAt ?? 0) > Date.now())) await this.scheduleFlush(Date.now());
  }

  private setEpoch(epoch: number): void {
    if (epoch <= this.epoch) return;
    this.epoch = epoch;
    learnEpoch(this.sql, epoch);
  }

  /**
   * The newest `received_at` (Unix ms) through which this log has nothing left to store: every event
   * it acknowledged at or before it is in Postgres (or quarantined), and any later append is stamped
   * after it. The events API of a multi-shard tenant reads only up to the lowest of its shards'.
   */
  horizon(): number {
    const oldest = oldestOutboxAt(this.sql);
    if (oldest !== null) return oldest - 1;
    return this.advanceClock() - 1;
  }

  /**
   * Moves the `received_at` clamp up to now and returns it: later appends are stamped from it on.
   * `persist` keeps that true after a restart on a clock that is behind (the output gate holds any
   * answer built on it until it is durable): the events API's horizon needs it, as a page once served
   * must never gain a row. The stream mux's ticks (stream-tick.ts) do not: a restart ends every mux
   * upstream of this log (1012), and the client resumes from its per-shard cursor, so a tick's promise
   * only has to hold while this object lives; persisting it would write a row every tick per idle stream.
   */
  private advanceClock(persist = true): number {
    const now = Date.now();
    if (now > this.lastReceivedAt) {
      this.lastReceivedAt = now;
      if (persist) writeMeta(this.sql, 'last_received_at', now);
    }
    return this.lastReceivedAt;
  }

  /** Events Switchyard itself emits (`switchyard.delivery.exhausted`, …): no config check. */
  async appendSystem(tenantId: string, items: AppendItem[]): Promise<AppendResult[]> {
    if (this.deleted) return [];
    const results = await this.submitAppend({ tenantId, dedupWindowSeconds: 86_400, items });
    return results === 'stale' ? [] : (results ?? []);
  }

  /**
   * The tenant is being deleted: from now on appends answer `gone`, and what has not reached Postgres
   * (outbox, staged queue messages, ordered lines, dedup keys) is dropped with it. Idempotent.
   */
  async deleteTenant(): Promise<void> {
    this.deleted = true;
    this.ctx.storage.transactionSync(() => {
      writeMeta(this.sql, 'deleted', 1);
      for (const table of [
        'outbox',
        'dedup',
        'dedup_bucket',
        'dispatch',
        'ordered_line',
        'ordered_inflight',
        'quarantine',
        'subject_head',
        'subject_head_state',
        'id_claim',
      ])
        this.sql.exec(`DELETE FROM ${table}`);
    });
    await this.ctx.storage.deleteAlarm();
    this.flushScheduled = false;
    this.nextFlushAt = null;
    this.stream.closeAll(CLOSE.tenantDeleted);
  }

  /**
   * Opens a live-stream listener: the route (routes/events-stream.ts) authenticated and validated the
   * request and forwards it here. A WebSocket upgrade gets a hibernatable socket, anything else SSE.
   * A refusal is a problem as JSON, which the route answers.
   */
  override async fetch(request: Request): Promise<Response> {
    if (this.deleted) return Response.json(problem(404, 'tenant_not_found', 'the tenant was deleted'), { status: 404 });
    const transport = request.headers.get('upgrade')?.toLowerCase() === 'websocket' ? 'ws' : 'sse';
    const opened = this.stream.open(request, transport);
    if (!(opened instanceof Response)) return Response.json(opened, { status: opened.status });
    await this.armExpiry();
    return opened;
  }

  override webSocketMessage(): void {
    // listeners only listen; `ping` is answered by the runtime's auto-response
  }

  override webSocketClose(ws: WebSocket, code: number): void {
    this.stream.socketGone(ws, code);
  }

  override webSocketError(ws: WebSocket): void {
    this.stream.socketGone(ws);
  }

  /** Called after a management change commits, so every isolate's next append notices it. */
  setConfigVersion(version: number): void {
    if (version <= this.configVersion) return;
    this.configVersion = version;
    writeMeta(this.sql, 'config_version', version);
  }

  /** The consumer reports that an ordered delivery ended; the next one of its line is released. */
  async finishOrdered(subscriptionId: string, partitionKey: string, deliveryId: string, expectEpoch?: number): Promise<LineAnswer<boolean>> {
    // a line whose slot moved away answers where it went (tenancy/line-follow.ts), unless a leftover of it is still here
    const away = lineAway(this.moves, partitionKey, expectEpoch);
    if (away && ('moving' in away || !hasLine(this.sql, subscriptionId, partitionKey))) return away;
    const released = this.ctx.storage.transactionSync(() => finishOrdered(this.sql, this.requireTenant(), subscriptionId, partitionKey, deliveryId));
    if (released) await drainDispatch(this.sql, this.env);
    return released;
  }

  /** Sends stranded deliveries again (see `redriveDeliveries`); returns in-flight deliveries that block them. */
  async redrive(
    stranded: StrandedDelivery[],
    expectEpoch?: number,
  ): Promise<{ resent: number; blockers: StrandedDelivery[]; follow: MovedItems<StrandedDelivery>[] } | { moving: true }> {
    const split = splitMoved(this.sql, this.moves, stranded, (d) => d, expectEpoch);
    if (!split) return { moving: true };
    const outcome =
      split.local.length > 0
        ? this.ctx.storage.transactionSync(() => redriveDeliveries(this.sql, this.requireTenant(), split.local))
        : { resent: 0, blockers: [] };
    if (outcome.resent > 0) await drainDispatch(this.sql, this.env);
    return { ...outcome, follow: split.moved };
  }

  /** Replays into ordered subscriptions go through the lines like fresh deliveries. */
  async stageOrdered(
    planned: Parameters<typeof stageDeliveries>[2],
    expectEpoch?: number,
  ): Promise<{ follow: MovedItems<Parameters<typeof stageDeliveries>[2][number]>[] } | { moving: true }> {
    const split = splitMoved(this.sql, this.moves, planned, (d) => d, expectEpoch);
    if (!split) return { moving: true };
    if (split.local.length > 0) {
      this.ctx.storage.transactionSync(() => stageDeliveries(this.sql, this.requireTenant(), split.local));
      await drainDispatch(this.sql, this.env);
    }
    return { follow: split.moved };
  }

  status(): LogStatus {
    return {
      tenantId: this.tenantId,
      shard: this.shard,
      lastSequence: this.lastSequence,
      configVersion: this.configVersion,
      outboxDepth: outboxDepth(this.sql),
      oldestOutboxAt: oldestOutboxAt(this.sql),
      dispatchDepth: dispatchDepth(this.sql),
      orderedDepth: orderedDepth(this.sql),
      flushFailures: this.flushFailures,
      nextFlushAt: this.nextFlushAt,
      quarantined: keptCount(this.sql),
    };
  }

  override async alarm(): Promise<void> {
    if (this.deleted) return;
    this.stream.expire(Date.now());
    this.flushScheduled = false;
    this.nextFlushAt = null;
    let backlog = false;
    const spans = alarmSpans(this.env, this.sql, this.tenantId);
    try {
      const until = Date.now() + FLUSH_SLICE_MS;
      do {
        spans?.flushing();
        backlog = await flushOutbox(this.flushHost());
        spans?.fanningOut();
        await drainDispatch(this.sql, this.env);
        spans?.fannedOut();
      } while (backlog && Date.now() < until);
      // a change of the shard count this log hands slots over in (slot-move.ts)
      if (this.moves.plan && this.tenantId) await driveMove(this.moveHost(this.tenantId));
      this.flushFailures = 0;
    } catch (error) {
      spans?.failed(error);
      this.flushFailures++;
      const plan = this.moves.plan;
      if (plan?.state === 'fenced' && Date.now() - plan.fencedAt! > FENCE_MS)
        this.ctx.storage.transactionSync(() => unfence(this.moveHost(this.tenantId ?? ''), plan));
      const delay = flushBackoffMs(this.flushFailures);
      console.warn(
        JSON.stringify({ msg: 'outbox flush failed', tenantId: this.tenantId, failures: this.flushFailures, retryInMs: delay, error: String(error) }),
      );
      await this.scheduleFlush(Date.now() + delay);
      await this.armExpiry();
      return;
    } finally {
      if (spans) this.ctx.waitUntil(exportSpans(spans.recorder));
    }
    forgetExpired(this.sql, Date.now());
    forgetExpiredClaims(this.sql, Date.now());
    this.pruneIdleHeads();
    // what arrived during the flush waits a moment for company, unless a backlog is being worked off
    if (!this.flushScheduled && this.hasWork()) await this.scheduleFlush(Date.now() + (backlog ? 0 : FLUSH_COALESCE_MS));
    await this.armExpiry();
  }

  private moveHost(tenantId: string) {
    return {
      env: this.env,
      ctx: this.ctx,
      sql: this.sql,
      postgres: this.postgres,
      moves: this.moves,
      tenantId,
      shard: this.shard,
      lastSequence: () => this.lastSequence,
      lastReceivedAt: () => this.lastReceivedAt,
      flush: async () => {
        await flushOutbox(this.flushHost());
        await drainDispatch(this.sql, this.env);
      },
    };
  }

  /** A listener's token expiry shares the flush alarm: the alarm is moved earlier when a token expires first. */
  private async armExpiry(): Promise<void> {
    const expiry = this.stream.nextExpiry();
    if (expiry === null || (this.nextFlushAt !== null && this.nextFlushAt <= expiry)) return;
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > expiry) await this.ctx.storage.setAlarm(expiry);
  }

  /** Drops a bounded batch of subject heads idle for 30 days whose events are all in Postgres. */
  private pruneIdleHeads(): void {
    const oldest = this.sql.exec<{ first: number | null }>('SELECT min(sequence) AS first FROM outbox').one().first;
    const flushedThrough = oldest === null ? this.lastSequence : oldest - 1;
    const pruned = this.ctx.storage.transactionSync(() => pruneHeads(this.sql, Date.now() - SUBJECT_HEAD_IDLE_MS, flushedThrough));
    if (pruned > 0) this.prunedHeads = true;
  }

  /**
   * Writes a group: its claims, then its appends, in one synchronous call, so that they share one
   * commit (a Durable Object commits a turn's writes together) and one wait for durability. Claims
   * and appends of one group were all waiting at once, so either order is one they could have
   * arrived in. Results in input order.
   */
  private writeGroup(all: readonly PendingWrite[]): (AppendResult[] | ClaimResult[] | null | 'stale')[] {
    const claims = all.flatMap((w, i) => ('claim' in w ? [i] : []));
    if (claims.length === 0) return this.writeAppends(all as readonly PendingAppend[]);
    const out: (AppendResult[] | ClaimResult[] | null | 'stale')[] = all.map(() => null);
    for (const i of claims) out[i] = this.writeClaims((all[i] as PendingClaim).claim);
    const appends = all.flatMap((w, i) => ('claim' in w ? [] : [i]));
    const appended = appends.length > 0 ? this.writeAppends(appends.map((i) => all[i] as PendingAppend)) : [];
    appends.forEach((i, k) => {
      out[i] = appended[k]!;
    });
    return out;
  }

  /** One call's claims in one transaction (null once the tenant is deleted; stale when routed under an older change than this log has seen). */
  private writeClaims(call: ClaimCall): ClaimResult[] | null | 'stale' {
    if (this.deleted) return null;
    if ((call.epoch ?? 0) < this.epoch) return 'stale';
    const now = Date.now();
    const expiresAt = now + call.dedupWindowSeconds * 1000;
    // a claim for an id slot that is moving here or away waits for the move (sharding.md §4)
    return this.ctx.storage.transactionSync(() => {
      const busy = call.claims.map((c) => slotBusy(this.moves, this.shard, c.idSlot, call));
      const claimed = claimIds(
        this.sql,
        call.claims.filter((_, i) => !busy[i]),
        now,
        expiresAt,
      );
      let next = 0;
      return call.claims.map((_, i): ClaimResult => (busy[i] ? { kind: 'moving' } : claimed[next++]!));
    });
  }

  /**
   * Writes a group of appends in one transaction: results per append (null once the tenant is
   * deleted). Consecutive appends with the same dedup window share one set of statements.
   */
  private writeAppends(all: readonly PendingAppend[]): (AppendResult[] | null | 'stale')[] {
    if (this.deleted) return all.map(() => null);
    // routed under an older shard-count change than this log has seen: refused whole, as stale (judged at write time)
    const routedHere = (a: PendingAppend) => a.epoch === undefined || a.epoch >= this.epoch;
    if (!all.every(routedHere)) {
      const kept = all.filter(routedHere);
      const written = kept.length > 0 ? this.writeAppends(kept) : [];
      let next = 0;
      return all.map((a) => (routedHere(a) ? written[next++]! : 'stale'));
    }
    const group = all;
    // monotonic per log: the events API of a multi-shard tenant orders by (received_at, sequence)
    const now = Math.max(Date.now(), this.lastReceivedAt);
    this.lastReceivedAt = now;
    const before = this.lastSequence;
    const { results, last } = this.ctx.storage.transactionSync(() =>
      writeAppendGroup(this.sql, group, {
        tenantId: this.tenantId,
        lastSequence: before,
        now,
        prunedHeads: this.prunedHeads,
        moves: this.moves,
        judge: (a, item) => judge(this.moves, this.shard, a, item),
      }),
    );
    // in memory only once the transaction committed
    this.tenantId ??= group[0]!.tenantId;
    if (last !== before) {
      this.lastSequence = last;
      this.unflushedAppend = true;
      if (this.stream.listening()) this.stream.publish(group.flatMap((a, i) => liveEvents(a.items, results[i]!, before, now)));
    }
    return results;
  }

  /** Refused events this log keeps itself (Postgres could not take them even as text), after `afterSequence`. */
  quarantined(afterSequence = 0, limit = 100): QuarantinedEvent[] {
    return listKept(this.sql, afterSequence, limit);
  }

  private flushHost(): FlushHost {
    return {
      ctx: this.ctx,
      sql: this.sql,
      postgres: this.postgres,
      routes: this.routes,
      tenantId: this.tenantId,
      configVersion: () => this.configVersion,
      deleted: () => this.deleted,
    };
  }

  private requireTenant(): string {
    if (!this.tenantId) throw new Error('this TenantLog has recorded no events yet');
    return this.tenantId;
  }

  /** Existence, not a count: this runs after every alarm, and a count would scan the whole backlog. */
  private hasWork(): boolean {
    return (
      this.sql
        .exec<{ busy: number }>(
          "SELECT EXISTS (SELECT 1 FROM outbox) OR EXISTS (SELECT 1 FROM dispatch) OR EXISTS (SELECT 1 FROM move_plan WHERE state != 'finished') AS busy",
        )
        .one().busy === 1
    );
  }

  private async scheduleFlush(at: number): Promise<void> {
    this.flushScheduled = true;
    this.nextFlushAt = at;
    await this.ctx.storage.setAlarm(at);
  }
}
