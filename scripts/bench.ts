/**
 * `npm run bench`: measures Switchyard against a bare Worker in one run and checks the budgets of
 * DESIGN.md §7. See bench/README.md for the method; results go to bench/results/latest.{json,md}.
 *
 * Options: --duration <s> (timed window per case, default 10), --connections <n> (default 32),
 *          --profile (afterwards, CPU profiles of the Worker isolate during single, batch and half-rate ingest; with
 *          --quick, single and half-rate only),
 *          --tmpfs (keep the Durable Objects' SQLite files in /dev/shm instead of on disk),
 *          --runs <n> (rounds of the batch cases, default 3: the sustained budget must hold in each),
 *          --quick (only the bare Worker, the floor and single-event ingest: for iterating on the append path),
 *          --shards (only the 1-shard vs 4-shard cases, scripts/bench/shards.ts, which a full run also makes),
 *          --batch (only batch ingest of 1000 events/request, --runs rounds, with --profile its CPU profile: for work on the batch path),
 *          --delivery (only the accepted-to-delivered latency, on a fresh runtime: for work on the delivery path),
 *          --costs (only the per-event CPU of each batch ingest step, scripts/bench/stage-costs.ts: about 30 s; no Postgres).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { root } from './lib/demo.ts';
import { startProfiler } from './lib/inspector-profile.ts';
import { loadSourceMap } from './lib/source-map.ts';
import { createPgFrameCounter } from './lib/pg-frames.ts';
import { routeThroughLocalProxy } from './lib/postgres.ts';
import { startReceiver, type Receiver } from './lib/receiver.ts';
import { bundleWorker, canTraceGc, freePort, startRuntime, type FullGc, type Runtime } from './lib/runtime.ts';
import { scratchDatabase } from './lib/scratch-db.ts';
import { connectApi, createSource, createWebhookSubscription, pluginCatalog, type Source } from './lib/switchyard-api.ts';
import { startWsProxy } from './lib/ws-proxy.ts';
import { runCase, type CaseContext, type CaseResult } from './bench/cases.ts';
import { requestPool } from './bench/pool.ts';
import { runLoad } from './lib/load.ts';
import { measureDeliveryLatency } from './bench/delivery.ts';
import { machineInfo } from './bench/machine.ts';
import { consoleBudgets, evaluateBudgets, toMarkdown, type BenchReport } from './bench/report.ts';
import { registerScriptValidator } from './bench/script-validator.ts';
import { benchMethod } from './bench/method.ts';
import { ORDER_SCHEMA } from './bench/order-schema.ts';
import { measurePriorityOvertake } from './bench/priority.ts';
import { measureDeliveryThroughput } from './bench/throughput.ts';
import { measureUnloaded } from './bench/unloaded.ts';
import { runShardCases } from './bench/shards.ts';
import { bundleStageCosts, measureStageCosts, writeStageCosts } from './bench/stage-costs.ts';

const { values: flags } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '32' },
    profile: { type: 'boolean', default: false },
    tmpfs: { type: 'boolean', default: false },
    runs: { type: 'string', default: '3' },
    quick: { type: 'boolean', default: false },
    shards: { type: 'boolean', default: false },
    batch: { type: 'boolean', default: false },
    delivery: { type: 'boolean', default: false },
    costs: { type: 'boolean', default: false },
  },
});
const RUNS = Math.max(1, Number(flags.runs));
const DURATION = Number(flags.duration);
const CONNECTIONS = Number(flags.connections);
const WARMUP = 2;
/** Unmeasured load every runtime gets before its first case (bench/README.md): a new workerd process is measurably slower for its first seconds. */
const RUNTIME_WARMUP = 5;
const log = (line: string) => console.log(`${stamp()} ${line}`);
const cleanups: (() => Promise<unknown>)[] = [];
const runtimes = new Set<Runtime>();
const gcLogs = new Map<Runtime, FullGc[]>();
/** Warnings and errors the Workers logged, by message, for the report (with the first full line of each). */
const workerLog = new Map<string, number>();
const workerLogExamples = new Map<string, string>();

process.on('SIGINT', () => void shutdown().finally(() => process.exit(130)));

try {
  await main();
  await shutdown();
} catch (error) {
  console.error(`bench: ${(error as Error).stack ?? error}`);
  await shutdown();
  process.exit(1);
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const machine = machineInfo();
  const work = await mkdtemp(join(tmpdir(), 'switchyard-bench-'));
  cleanups.push(() => rm(work, { recursive: true, force: true }));
  const stateRoot = flags.tmpfs ? await mkdtemp('/dev/shm/switchyard-bench-') : work;
  if (flags.tmpfs) cleanups.push(() => rm(stateRoot, { recursive: true, force: true }));
  log(`bench: ${machine.cpuModel}, ${machine.cores} cores, load average ${machine.loadAverageAtStart.join(' ')}`);
  if (flags.costs) {
    const runtime = await launch({ kind: 'costs', script: await bundleStageCosts(root, join(work, 'costs')), persistDir: join(stateRoot, 'costs-state') });
    const costs = await measureStageCosts(runtime, log);
    await stop(runtime);
    await mkdir(join(root, 'bench/results'), { recursive: true });
    const header = `# Switchyard batch ingest, cost per step — ${startedAt.toISOString()}\n\nMachine: ${machine.cpuModel}, ${machine.cores} cores; load average at start ${machine.loadAverageAtStart.join(' / ')}.`;
    await writeStageCosts(join(root, 'bench/results/stage-costs.md'), costs, header);
    log('bench: wrote bench/results/stage-costs.md');
    return;
  }

  log('bench: bundling with `wrangler deploy --dry-run`…');
  const bundle = await bundleWorker(join(work, 'bundle'));

  // the harness's own queries go through a proxy of their own, so only the Worker's traffic is counted
  const harnessProxy = await startWsProxy();
  cleanups.push(() => harnessProxy.close());
  routeThroughLocalProxy(harnessProxy.endpoint);
  const database = await scratchDatabase('switchyard_bench');
  cleanups.push(() => database.stop());
  const pg = createPgFrameCounter();
  const workerProxy = await startWsProxy({ tap: pg });
  cleanups.push(() => workerProxy.close());
  const receiver = await startReceiver();
  cleanups.push(() => receiver.close());
  log(`bench: Postgres ${database.kind} (${new URL(database.url).pathname.slice(1)}), receiver ${receiver.url}`);

  const cases: CaseResult[] = [];
  let unloaded: BenchReport['unloaded'] = null;
  const skipped: { name: string; reason: string }[] = [];
  const notes: string[] = [];
  const logExamples: string[] = [];

  // 1. the baseline: a hello-world Worker on the same path, fed the same signed requests
  const fakeSource: Source = { tenantId: 'tn_bare', sourceId: 'src_00000000000000000000000000', secret: `whsec_${randomBytes(24).toString('base64')}` };
  const measureBare = async (name: string, title: string) => {
    const bare = await launch({ kind: 'bare' });
    await warmRuntime(bare, fakeSource);
    const result = await runCase(context(bare, database.url, pg), {
      name,
      title,
      source: fakeSource,
      eventsPerRequest: 1,
      connections: CONNECTIONS,
      durationSeconds: DURATION,
      warmupSeconds: WARMUP,
      expectedRps: 16_000,
      noStorage: true,
    });
    await stop(bare);
    return result;
  };
  // --batch and --delivery measure Switchyard alone: no baseline or floor
  if (!flags.batch && !flags.delivery) cases.push(await measureBare('bare', 'bare Worker (hello world), same requests'));

  // the platform's floor for a durable acknowledgement: body -> Durable Object RPC -> one SQLite insert
  const floor = flags.batch || flags.delivery ? null : await launch({ kind: 'floor', persistDir: join(stateRoot, 'floor-state') });
  if (floor) {
    await warmRuntime(floor, fakeSource);
    cases.push(
      await runCase(context(floor, database.url, pg), {
        name: 'floor',
        title: 'floor: Worker → DO RPC → 1 SQLite insert',
        source: fakeSource,
        eventsPerRequest: 1,
        connections: CONNECTIONS,
        durationSeconds: DURATION,
        warmupSeconds: WARMUP,
        expectedRps: 5_000,
        noStorage: true,
      }),
    );
  }

  // 2. Switchyard, as `wrangler deploy` would ship it
  const adminSecret = randomBytes(32).toString('base64url');
  const inspectorPort = flags.profile ? await freePort() : undefined;
  const runtime = await launch({
    kind: 'bundle',
    script: bundle.script,
    persistDir: join(stateRoot, 'state'),
    inspectorPort,
    bindings: {
      ADMIN_JWT_SECRET: adminSecret,
      ENCRYPTION_KEY: randomBytes(32).toString('base64'),
      DATABASE_URL: database.url,
      NEON_WS_PROXY: workerProxy.endpoint,
      EGRESS_ALLOWLIST: new URL(receiver.url).host,
    },
  });
  const ctx = context(runtime, database.url, pg);
  const api = await connectApi(runtime.url, adminSecret);
  const ready = await api.call('GET', '/readyz');
  if (ready.status !== 200) throw new Error(`the runtime is not ready: ${JSON.stringify(ready.json)}`);
  await warmRuntime(runtime, await createSource(api, 'bench runtime warm-up'));

  const base = { connections: CONNECTIONS, durationSeconds: DURATION, warmupSeconds: WARMUP };
  if (flags.delivery) {
    const delivery = await deliveryLatency(api, runtime.url, receiver, log);
    notes.push('Run with --delivery: only the accepted-to-delivered latency was measured.');
    await finish(cases, { startedAt, machine, bundle, skipped, notes, unloaded: null, delivery, deliveryThroughput: null, logExamples });
    return;
  }
  if (flags.batch) {
    for (let run = 1; run <= RUNS; run++) {
      const b1000 = await createSource(api, `bench batch 1000${run > 1 ? `-run${run}` : ''}`);
      cases.push(
        await runCase(ctx, {
          ...base,
          name: `batch-1000${run > 1 ? `-run${run}` : ''}`,
          title: `batch ingest, 1000 events/request${RUNS > 1 ? ` (run ${run} of ${RUNS})` : ''}`,
          source: b1000,
          eventsPerRequest: 1000,
          connections: Math.min(CONNECTIONS, 8),
          expectedRps: 30,
        }),
      );
    }
    notes.push('Run with --batch: only batch ingest of 1000 events/request was measured.');
    const profile = inspectorPort
      ? await profileCases(ctx, api, inspectorPort, bundle, base, [{ name: 'batch-1000', size: 1000, expectedRps: 30 }])
      : undefined;
    await finish(cases, { startedAt, machine, bundle, skipped, notes, unloaded: null, delivery: null, deliveryThroughput: null, profile, logExamples });
    return;
  }
  if (!floor) throw new Error('unreachable: the floor runs unless --batch or --delivery');
  if (flags.shards) {
    await stop(floor);
    const sharded = await runShardCases(ctx, api, base);
    notes.push(...sharded.notes, 'Run with --shards: only the 1-shard vs 4-shard cases were measured.');
    await finish([...cases, ...sharded.cases], {
      startedAt,
      machine,
      bundle,
      skipped,
      notes,
      unloaded: null,
      delivery: null,
      deliveryThroughput: null,
      logExamples,
    });
    return;
  }
  const single = await createSource(api, 'bench single');
  const singleResult = await runCase(ctx, {
    ...base,
    name: 'single',
    title: 'signed single-event ingest',
    source: single,
    eventsPerRequest: 1,
    expectedRps: 3_000,
  });
  cases.push(singleResult);

  const halfRate = Math.max(10, Math.round(singleResult.load.requestsPerSecond / 2));
  const half = await createSource(api, 'bench half');
  cases.push(
    await runCase(ctx, {
      ...base,
      name: 'single-half-rate',
      title: 'single-event ingest at 50% of saturation (paced)',
      source: half,
      eventsPerRequest: 1,
      connections: 0,
      overallRate: halfRate,
      paced: true,
      expectedRps: halfRate,
    }),
  );
  // the same paced rate against the floor: what of the tail is the platform's durable write
  cases.push(
    await runCase(context(floor, database.url, pg), {
      ...base,
      name: 'floor-half-rate',
      title: `floor at the same paced rate`,
      source: fakeSource,
      eventsPerRequest: 1,
      connections: 0,
      overallRate: halfRate,
      paced: true,
      expectedRps: halfRate,
      noStorage: true,
    }),
  );
  await stop(floor);

  if (flags.quick) {
    const profile = inspectorPort
      ? await profileCases(ctx, api, inspectorPort, bundle, base, [
          { name: 'single', size: 1, expectedRps: 3_000 },
          { name: 'single-half-rate', size: 1, expectedRps: halfRate, paced: halfRate },
        ])
      : undefined;
    await finish(cases, { startedAt, machine, bundle, skipped, notes, unloaded: null, delivery: null, deliveryThroughput: null, profile, logExamples });
    return;
  }
  // the sustained budget must hold in every round, so the batch cases run RUNS times, each round on new tenants
  for (let run = 1; run <= RUNS; run++) {
    const round = RUNS > 1 ? ` (run ${run} of ${RUNS})` : '';
    const suffix = run > 1 ? `-run${run}` : '';
    const b100 = await createSource(api, `bench batch 100${suffix}`);
    cases.push(
      await runCase(ctx, {
        ...base,
        name: `batch-100${suffix}`,
        title: `batch ingest, 100 events/request${round}`,
        source: b100,
        eventsPerRequest: 100,
        connections: Math.min(CONNECTIONS, 16),
        durationSeconds: Math.round(DURATION * 1.5),
        expectedRps: 250,
      }),
    );
    const b1000 = await createSource(api, `bench batch 1000${suffix}`);
    cases.push(
      await runCase(ctx, {
        ...base,
        name: `batch-1000${suffix}`,
        title: `batch ingest, 1000 events/request${round}`,
        source: b1000,
        eventsPerRequest: 1000,
        connections: Math.min(CONNECTIONS, 8),
        expectedRps: 30,
      }),
    );
  }

  // 1 shard vs 4 shards, the same load (docs/design/sharding.md §5)
  const sharded = await runShardCases(ctx, api, base);
  cases.push(...sharded.cases);
  notes.push(...sharded.notes);

  const schema = await createSource(api, 'bench schema');
  await api.must('PUT', `/v1/tenants/${schema.tenantId}/event-types/orders.created`, { schema: ORDER_SCHEMA });
  cases.push(
    await runCase(ctx, {
      ...base,
      name: 'schema',
      title: 'single-event ingest + JSON Schema of the type',
      source: schema,
      eventsPerRequest: 1,
      expectedRps: 3_000,
    }),
  );

  const script = await createSource(api, 'bench script');
  const scriptSetup = await registerScriptValidator(api, await pluginCatalog(api), script.tenantId);
  if (scriptSetup.ok) {
    cases.push(
      await runCase(ctx, {
        ...base,
        name: 'script',
        title: 'single-event ingest + warm script validator',
        source: script,
        eventsPerRequest: 1,
        expectedRps: 3_000,
      }),
    );
  } else {
    skipped.push({ name: 'script', reason: scriptSetup.reason });
    log(`bench: script validator: not available (${scriptSetup.reason})`);
  }

  // unloaded latency, one request at a time, plain and validated requests alternating in the same window
  unloaded = await measureUnloaded(runtime.url, { plain: single, schema, script: scriptSetup.ok ? script : null }, log);

  // the baseline again, so a passing disturbance on a shared machine cannot flatter the ratios (the higher one counts)
  cases.push(await measureBare('bare-again', 'bare Worker again (the higher of the two is the baseline)'));

  const delivery = await deliveryLatency(api, runtime.url, receiver, log);

  const deliveryThroughput = await measureDeliveryThroughput(api, runtime.url, database.url, receiver, pg, log);

  const profile = inspectorPort
    ? await profileCases(ctx, api, inspectorPort, bundle, base, [
        { name: 'single', size: 1, expectedRps: 3_000 },
        ...(flags.quick ? [] : [{ name: 'batch-1000', size: 1000, expectedRps: 30 }]),
        // the tail at half of saturation: where the isolate's time goes when it should be half idle
        { name: 'single-half-rate', size: 1, expectedRps: halfRate, paced: halfRate },
      ])
    : undefined;

  // last: its backlog goes on draining to the receiver after the case
  const priority = await measurePriorityOvertake(api, runtime.url, database.url, receiver, log).catch((error: unknown) => {
    notes.push(`priority lanes case failed: ${String(error)}`);
    return null;
  });

  await finish(cases, { startedAt, machine, bundle, skipped, notes, unloaded, delivery, deliveryThroughput, priority, profile, logExamples });
}

/** 5 s CPU profiles of the Worker isolate during each of `profiled`; summaries by case name, raw profiles in bench/results. */
async function profileCases(
  ctx: CaseContext,
  api: Awaited<ReturnType<typeof connectApi>>,
  inspectorPort: number,
  bundle: { script: string },
  base: { connections: number; durationSeconds: number; warmupSeconds: number },
  profiled: { name: string; size: number; expectedRps: number; paced?: number }[],
): Promise<Record<string, unknown>> {
  await mkdir(join(root, 'bench/results'), { recursive: true });
  const profiles: Record<string, unknown> = {};
  for (const { name, size, expectedRps, paced } of profiled) {
    log(`bench: profiling the Worker isolate during 5 s of ${name} ingest…`);
    const source = await createSource(api, `bench profile ${name}`);
    const profiler = await startProfiler(inspectorPort, 'switchyard');
    const load = paced ? { connections: 0, overallRate: paced, paced: true } : { connections: size > 1 ? 8 : CONNECTIONS };
    await runCase(ctx, {
      ...base,
      ...load,
      name: `profile-${name}`,
      title: `${name} ingest (profiled, not a result)`,
      source,
      eventsPerRequest: size,
      durationSeconds: 5,
      warmupSeconds: 0,
      expectedRps,
    });
    const summary = await profiler.stop(join(root, `bench/results/worker-${name}.cpuprofile.json`), loadSourceMap(`${bundle.script}.map`, root));
    profiles[name] = summary;
    log(`${name}: ${summary.samples} samples; ${summary.stalledPct} % of the wall time in sampler stalls over 5 ms, not attributed`);
    log(
      summary.byInclusive
        .slice(0, 30)
        .map((l) => `  ${String(l.totalPct).padStart(5)}% incl ${String(l.selfPct).padStart(5)}% self  ${l.function} (${l.where})`)
        .join('\n'),
    );
  }
  return profiles;
}

/** What a run gathered besides its cases, for the report. */
interface Gathered {
  startedAt: Date;
  machine: BenchReport['machine'];
  bundle: { bytes: number };
  skipped: BenchReport['skipped'];
  notes: string[];
  unloaded: BenchReport['unloaded'];
  delivery: BenchReport['delivery'];
  deliveryThroughput: BenchReport['deliveryThroughput'];
  priority?: BenchReport['priority'];
  profile?: unknown;
  logExamples: string[];
}

/** Notes, budgets, and the report files. */
async function finish(cases: CaseResult[], g: Gathered): Promise<void> {
  const { startedAt, machine, bundle, skipped, notes, unloaded, delivery, deliveryThroughput, priority, profile, logExamples } = g;
  if (flags.quick) notes.push('Run with --quick: only the bare Worker, the floor and single-event ingest were measured.');
  if (workerLog.size) {
    log('bench: the Workers logged:');
    for (const [message, count] of [...workerLog].sort((a, b) => b[1] - a[1]).slice(0, 10)) {
      log(`  ${count}× ${message}`);
      notes.push(`Worker log, ${count}×: ${message}`);
      logExamples.push(workerLogExamples.get(message) ?? message);
    }
  }
  if (flags.tmpfs) notes.push('Run with --tmpfs: Durable Object SQLite files lived in /dev/shm, so no disk fsync was in the write path.');
  for (const c of cases) {
    if (c.load.cpu && c.load.cpu.other > 20)
      notes.push(`${c.title}: other processes used ${c.load.cpu.other}% of a core during the window; figures are lower than on an idle machine.`);
    if (c.signedLate) notes.push(`${c.title}: the pre-signed pool ran out; ${c.signedLate} requests were signed inside the window.`);
    if (c.storage && !c.storage.complete)
      notes.push(`${c.title}: Postgres held ${c.storage.stored} of ${c.acknowledgedEvents} acknowledged events when the wait ended.`);
  }
  const partial: Omit<BenchReport, 'budgets'> = {
    startedAt: startedAt.toISOString(),
    durationSeconds: Math.round((Date.now() - startedAt.getTime()) / 1000),
    machine,
    method: benchMethod(CONNECTIONS, DURATION, WARMUP),
    bundle: { bytes: bundle.bytes, path: 'wrangler deploy --dry-run --outdir <tmp>/bundle' },
    cases,
    skipped,
    unloaded,
    delivery,
    deliveryThroughput,
    priority,
    profile,
    notes,
    workerLogExamples: logExamples,
  };
  const report: BenchReport = { ...partial, budgets: evaluateBudgets(partial) };
  await mkdir(join(root, 'bench/results'), { recursive: true });
  await writeFile(join(root, 'bench/results/latest.json'), `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(join(root, 'bench/results/latest.md'), toMarkdown(report));
  log(`\n${consoleBudgets(report.budgets)}\n\nbench: wrote bench/results/latest.json and bench/results/latest.md (${report.durationSeconds} s)`);
}

/**
 * Signed single events on `source` for RUNTIME_WARMUP seconds, not measured, right after a runtime
 * starts: every runtime (bare, floor, Switchyard) gets the same, so no first case pays for a cold one.
 */
/** 200 single events at 20/s to a tenant with a webhook subscription to the local receiver. */
async function deliveryLatency(api: Awaited<ReturnType<typeof connectApi>>, base: string, receiver: Receiver, log: (line: string) => void) {
  const source = await createSource(api, 'bench delivery latency');
  await createWebhookSubscription(api, source.tenantId, `${receiver.url}/latency`);
  log('bench: accepted-to-delivered latency, 200 events at 20/s…');
  const delivery = await measureDeliveryLatency({ base, source, receiver, path: '/latency', events: 200, ratePerSecond: 20 });
  log(
    `bench: delivered ${delivery.delivered}/${delivery.events}: p50 ${delivery.sentToDeliveredMs.p50} ms, p95 ${delivery.sentToDeliveredMs.p95} ms, p99 ${delivery.sentToDeliveredMs.p99} ms`,
  );
  return delivery;
}

async function warmRuntime(runtime: Runtime, source: Source): Promise<void> {
  const pool = requestPool(source, { label: 'runtime-warm-up', eventsPerRequest: 1, size: 5_000 });
  // one request on its own first, as every case sends (bench/README.md)
  const first = pool.next();
  await fetch(`${runtime.url}${first.path}`, { method: first.method, headers: first.headers, body: first.body }).then(
    (r) => r.arrayBuffer(),
    () => null,
  );
  await runLoad({ url: runtime.url, next: pool.next, connections: CONNECTIONS, durationSeconds: RUNTIME_WARMUP, workerdPid: null });
}

async function launch(options: Parameters<typeof startRuntime>[0]): Promise<Runtime> {
  // untraced (no stdbuf preload here), the cases show no collections rather than none found
  const fullGcs: FullGc[] | undefined = canTraceGc() ? [] : undefined;
  const runtime = await startRuntime({
    ...options,
    onGc: fullGcs && ((gc) => fullGcs.push(gc)),
    onLog: (line) => {
      // group by the logged message, without ids and numbers, so repeats collapse
      const message = (line.match(/"msg":"([^"]+)"/)?.[1] ?? line).slice(0, 200);
      const error = line.match(/"error":"([^"]{0,160})/)?.[1];
      const key = (error ? `${message}: ${error}` : message).replace(/[0-9A-Z]{26}|\d+/g, '#');
      workerLog.set(key, (workerLog.get(key) ?? 0) + 1);
      if (!workerLogExamples.has(key)) workerLogExamples.set(key, `${new Date().toISOString()} ${line.slice(0, 3000)}`);
    },
  });
  runtimes.add(runtime);
  if (fullGcs) gcLogs.set(runtime, fullGcs);
  return runtime;
}

async function stop(runtime: Runtime): Promise<void> {
  runtimes.delete(runtime);
  await runtime.stop();
}

function context(runtime: Runtime, databaseUrl: string, pg: ReturnType<typeof createPgFrameCounter>): CaseContext {
  return { base: runtime.url, workerdPid: runtime.workerdPid, databaseUrl, pg, log: (line) => log(`bench: ${line}`), fullGcs: gcLogs.get(runtime) };
}

function stamp(): string {
  return new Date().toISOString().slice(11, 19);
}

async function shutdown(): Promise<void> {
  for (const runtime of runtimes) await runtime.stop().catch(() => {});
  runtimes.clear();
  for (const cleanup of cleanups.reverse()) await cleanup().catch((error: unknown) => console.error(`bench: cleanup: ${String(error)}`));
  cleanups.length = 0;
}
