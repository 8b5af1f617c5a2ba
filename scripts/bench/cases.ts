/**
 * One benchmark case: warm up, open a timed window of signed ingest requests, then wait until
 * Postgres holds every acknowledged event and count the Postgres traffic the case caused.
 */
import type { LoadResult } from '../lib/load.ts';
import { runLoad } from '../lib/load.ts';
import { runPaced } from '../lib/paced.ts';
import { pgDelta, type PgCounts, type PgFrameCounter } from '../lib/pg-frames.ts';
import { query } from '../lib/postgres.ts';
import type { FullGc } from '../lib/runtime.ts';
import type { EventOptions, Source } from '../lib/switchyard-api.ts';
import { requestPool } from './pool.ts';

export interface CaseResult {
  name: string;
  title: string;
  connections: number;
  eventsPerRequest: number;
  overallRate?: number;
  load: LoadResult;
  eventsPerSecond: number;
  peakEventsPerSecond: number;
  acknowledgedEvents: number;
  /** Requests the pool had to sign during the window because it ran out. */
  signedLate: number;
  /** Postgres side: events stored, how long after the window it caught up, and the end-to-end rate (warm-up start to caught up). */
  storage: { stored: number; drainMs: number; complete: boolean; storedPerSecond: number } | null;
  postgres: PgSummary | null;
  /** The Worker isolate's full collections during the timed window (null: not traced). */
  gc: GcSummary | null;
}

/**
 * Full (mark-compact) collections of the busiest isolate in a window. Each stops the isolate: every
 * request in flight waits, and on this runtime the pause is mostly workerd finalizing the Request,
 * Headers and promise wrappers made since the previous one (bench/README.md, "GC pauses").
 */
export interface GcSummary {
  count: number;
  pauseMs: { p50: number; max: number };
  /** Median heap left after a collection: the live heap, which sets how long V8 waits before the next. */
  heapAfterMb: number;
}

/** One wording for a window's collections, in the case lines, the report's table and the half-rate verdict. */
export function describeGc(gc: GcSummary | null): string {
  return gc ? `${gc.count} × ${gc.pauseMs.p50} ms (max ${gc.pauseMs.max}) on a ${gc.heapAfterMb} MB heap` : 'not traced';
}

export function summarizeGc(all: readonly FullGc[], from: number, to: number): GcSummary | null {
  const inWindow = all.filter((gc) => gc.at >= from && gc.at <= to);
  const byIsolate = Map.groupBy(inWindow, (gc) => gc.isolate);
  const busiest = [...byIsolate.values()].sort((a, b) => b.length - a.length)[0];
  if (!busiest) return { count: 0, pauseMs: { p50: 0, max: 0 }, heapAfterMb: 0 };
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  const pauses = busiest.map((gc) => gc.pauseMs);
  return {
    count: busiest.length,
    pauseMs: { p50: Math.round(median(pauses) * 10) / 10, max: Math.round(Math.max(...pauses) * 10) / 10 },
    heapAfterMb: median(busiest.map((gc) => gc.heapAfterMb)),
  };
}

export interface PgSummary {
  connections: number;
  roundTrips: number;
  /** `INSERT INTO events` statements: outbox flushes. */
  flushes: number;
  /** Routing reloads by the TenantLog (once per object start or config change), part of a flush. */
  routingLoads: number;
  /** (flush statements + routing reloads) ÷ flushes. */
  roundTripsPerFlush: number;
  /** Round trips not made by the flush path (ingest's source and rules lookups, the consumer). */
  otherRoundTrips: number;
  roundTripsPer1000Events: number;
  /** Round trips by statement: how many, and their mean time until ReadyForQuery. */
  statements: Record<string, { count: number; meanMs: number; maxMs: number }>;
}

export interface CaseContext {
  base: string;
  workerdPid: number | null;
  databaseUrl: string;
  pg: PgFrameCounter;
  log: (line: string) => void;
  /** The runtime's full collections so far (startRuntime's `onGc`), when traced. */
  fullGcs?: readonly FullGc[];
}

export interface CaseSpec {
  name: string;
  title: string;
  source: Source;
  eventsPerRequest: number;
  connections: number;
  durationSeconds: number;
  warmupSeconds: number;
  overallRate?: number;
  /** Send at `overallRate` evenly spaced, open loop (scripts/lib/paced.ts) instead of autocannon's per-connection pacing. */
  paced?: boolean;
  /** Expected request rate, to size the pool of pre-signed requests. */
  expectedRps: number;
  event?: EventOptions;
  /** Skip waiting for Postgres (for a Worker without a database). */
  noStorage?: boolean;
}

export async function runCase(ctx: CaseContext, spec: CaseSpec): Promise<CaseResult> {
  const size = Math.ceil(spec.expectedRps * (spec.durationSeconds + spec.warmupSeconds) * 1.3) + 100;
  const pool = requestPool(spec.source, { label: spec.name, eventsPerRequest: spec.eventsPerRequest, size, event: spec.event });
  const pgBefore = ctx.pg.snapshot();
  const storedBefore = spec.noStorage ? 0 : await storedCount(ctx.databaseUrl, spec.source.tenantId);
  let warmOk = 0;
  const started = Date.now();
  // one request on its own first: concurrent first requests for an uncached source can fail (see bench/README.md)
  const first = pool.next();
  const firstAnswer = await fetch(`${ctx.base}${first.path}`, { method: first.method, headers: first.headers, body: first.body }).then(
    (r) => r.status,
    () => 0,
  );
  if (firstAnswer === 202) warmOk += 1;
  const drive = (seconds: number, workerdPid: number | null): Promise<LoadResult> =>
    spec.paced && spec.overallRate
      ? runPaced({ url: ctx.base, next: pool.next, ratePerSecond: spec.overallRate, durationSeconds: seconds, workerdPid }).then(fromPaced)
      : runLoad({ url: ctx.base, next: pool.next, connections: spec.connections, durationSeconds: seconds, overallRate: spec.overallRate, workerdPid });
  if (spec.warmupSeconds > 0) warmOk += (await drive(spec.warmupSeconds, null)).ok;
  const lateBefore = pool.signedLate();
  const windowStart = Date.now();
  const load = await drive(spec.durationSeconds, ctx.workerdPid);
  const acknowledgedEvents = (warmOk + load.ok) * spec.eventsPerRequest;
  const windowEnd = Date.now();
  const storage = spec.noStorage ? null : await waitStored(ctx.databaseUrl, spec.source.tenantId, storedBefore + acknowledgedEvents, windowEnd);
  const result: CaseResult = {
    name: spec.name,
    title: spec.title,
    connections: spec.connections,
    eventsPerRequest: spec.eventsPerRequest,
    overallRate: spec.overallRate,
    load,
    eventsPerSecond: Math.round((load.ok * spec.eventsPerRequest) / load.durationSeconds),
    peakEventsPerSecond: load.peakRequestsPerSecond * spec.eventsPerRequest,
    acknowledgedEvents,
    signedLate: pool.signedLate() - lateBefore,
    storage: storage && {
      ...storage,
      stored: storage.stored - storedBefore,
      storedPerSecond: Math.round((storage.stored - storedBefore) / ((windowEnd + storage.drainMs - started) / 1000)),
    },
    postgres: spec.noStorage ? null : summarizePg(pgDelta(ctx.pg.snapshot(), pgBefore), acknowledgedEvents),
    gc: ctx.fullGcs ? summarizeGc(ctx.fullGcs, windowStart, windowEnd) : null,
  };
  ctx.log(describe(result));
  return result;
}

function fromPaced(p: Awaited<ReturnType<typeof runPaced>>): LoadResult {
  return {
    requests: p.requests,
    durationSeconds: p.durationSeconds,
    requestsPerSecond: p.requestsPerSecond,
    peakRequestsPerSecond: p.requestsPerSecond,
    latencyMs: { p50: p.latencyMs.p50, p95: p.latencyMs.p95, p99: p.latencyMs.p99, max: p.latencyMs.max, mean: p.meanMs },
    correctedP99Ms: p.scheduledLatencyMs.p99,
    status: p.status,
    ok: p.ok,
    errors: p.errors,
    timeouts: 0,
    cpu: p.cpu,
  };
}

/**
 * `loadRouting` (src/db/subscriptions.ts): the subscriptions a TenantLog fans out to. Not the Worker's
 * lookup of sync subscriptions (`loadSyncRouting`, src/db/deliveries-sync.ts), which starts alike but is
 * no part of the flush path: it counts among the other round trips.
 */
const ROUTING_LOAD = /^SELECT t\.config_version, \(SELECT COALESCE\(json_agg\(json_build_object\('id'(?![\s\S]*sync_timeout_ms)/;

/**
 * `insertEvents` (src/db/events.ts), the outbox flush's one statement. Statements are tallied by their
 * first 72 characters (pg-frames.ts), which for this one end before its `INSERT INTO events`, so it is
 * known by its opening (an archive restore's `INSERT INTO events` is no flush).
 */
const FLUSH_INSERT = /^WITH r AS \( SELECT \* FROM jsonb_to_recordset\(\$2::jsonb\) AS r\(sequence/;

export function summarizePg(delta: PgCounts, events: number): PgSummary {
  const count = (pattern: RegExp) =>
    Object.entries(delta.statements)
      .filter(([sql]) => pattern.test(sql))
      .reduce((sum, [, s]) => sum + s.count, 0);
  const flushes = count(FLUSH_INSERT);
  const routingLoads = count(ROUTING_LOAD);
  const statements = Object.fromEntries(
    Object.entries(delta.statements).map(([sql, s]) => [
      sql,
      { count: s.count, meanMs: Math.round((s.totalMs / s.count) * 100) / 100, maxMs: Math.round(s.maxMs * 100) / 100 },
    ]),
  );
  return {
    connections: delta.connections,
    roundTrips: delta.roundTrips,
    flushes,
    routingLoads,
    roundTripsPerFlush: flushes ? Math.round(((flushes + routingLoads) / flushes) * 1000) / 1000 : 0,
    otherRoundTrips: delta.roundTrips - flushes - routingLoads,
    roundTripsPer1000Events: events ? Math.round((delta.roundTrips / events) * 1000 * 100) / 100 : 0,
    statements,
  };
}

export async function storedCount(databaseUrl: string, tenantId: string): Promise<number> {
  const rows = (await query(databaseUrl, 'SELECT count(*)::int AS n FROM events WHERE tenant_id = $1', [tenantId])) as { n: number }[];
  return rows[0]?.n ?? 0;
}

/**
 * Shard s numbers its events s·10^13 + n; at most 64 shards (SEQUENCE_STRIDE and MAX_SHARDS of
 * src/tenancy/shard-routing.ts, copied: that module takes Worker types the scripts' project has not).
 */
const SEQUENCE_STRIDE = 10_000_000_000_000;
const MAX_SHARDS = 64;
/**
 * The events each shard stored past its watermark, and its new top: one primary-key range scan per
 * shard, however many events the tenant already holds.
 */
const STORED_PAST = `SELECT w.shard, c.n, c.top::text AS top FROM unnest($2::int[], $3::bigint[]) AS w(shard, after)
  CROSS JOIN LATERAL (SELECT count(*)::int AS n, max(sequence) AS top FROM events
    WHERE tenant_id = $1 AND sequence > w.after AND sequence < (w.shard + 1) * ${SEQUENCE_STRIDE}::bigint) AS c`;

/**
 * Polls until Postgres holds `expected` events of the tenant (or `timeoutMs` pass). A shard's flushes
 * commit one after another in sequence order, so what a poll sees of a shard is a prefix of its
 * sequences: each poll counts only the rows past the last top it saw, not the whole tenant again (a
 * `count(*)` of half a million rows took up to a second of the Postgres core the flushes were waiting
 * for, ten times a second). The figure reported is one exact `count(*)` once the polls reach it;
 * should the two ever disagree, polling goes on with exact counts.
 */
export async function waitStored(
  databaseUrl: string,
  tenantId: string,
  expected: number,
  since: number,
  timeoutMs = 60_000,
): Promise<{ stored: number; drainMs: number; complete: boolean }> {
  const deadline = Date.now() + timeoutMs;
  const shards = Array.from({ length: MAX_SHARDS }, (_, s) => s);
  const after = shards.map((s) => s * SEQUENCE_STRIDE);
  let stored = 0;
  let incremental = true;
  for (;;) {
    if (incremental) {
      const rows = (await query(databaseUrl, STORED_PAST, [tenantId, shards, after])) as { shard: number; n: number; top: string | null }[];
      for (const row of rows) {
        stored += row.n;
        if (row.top !== null) after[row.shard] = Number(row.top);
      }
    }
    const drainMs = Date.now() - since;
    if (stored >= expected || !incremental) {
      stored = await storedCount(databaseUrl, tenantId);
      if (stored >= expected) return { stored, drainMs, complete: true };
      incremental = false;
    }
    if (Date.now() > deadline) return { stored, drainMs: Date.now() - since, complete: false };
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function describe(r: CaseResult): string {
  const l = r.load;
  const parts = [
    `${r.title.padEnd(44)} ${String(l.requestsPerSecond).padStart(6)} req/s ${String(r.eventsPerSecond).padStart(7)} ev/s`,
    `p50 ${l.latencyMs.p50} p95 ${l.latencyMs.p95} p99 ${l.latencyMs.p99} ms`,
    Object.entries(l.status)
      .map(([code, n]) => `${code}×${n}`)
      .join(' ') + (l.errors ? ` errors×${l.errors}` : ''),
  ];
  if (l.cpu) parts.push(`cpu workerd ${l.cpu.workerd}% loadgen ${l.cpu.loadGenerator}% pg ${l.cpu.postgres}% other ${l.cpu.other}%`);
  if (r.storage)
    parts.push(`stored ${r.storage.stored}/${r.acknowledgedEvents} +${r.storage.drainMs} ms after the window (${r.storage.storedPerSecond} stored/s)`);
  if (r.gc) parts.push(`full GCs ${describeGc(r.gc)}`);
  if (r.signedLate) parts.push(`(pool short by ${r.signedLate})`);
  return parts.join(' | ');
}
