/**
 * `npm run test:faults`: the fault suite. Each scenario runs the deploy bundle under workerd
 * (scripts/lib/runtime.ts), breaks something, and checks a per-event ledger of what was published,
 * acknowledged, stored and delivered. Ends with the line `N passed, N failed`; exits 1 on a failure.
 * The scenarios marked `beside` run at the same time, before the others (see `scenarios`).
 *
 * Usage: node scripts/faults.ts [scenario ...]   (postgres-outage, inflight-outage, runtime-kill,
 *        flapping-receiver, redis-outage, fuzz, deep-nesting, poison-row, shard-change; default all). FAULTS_SEED replays the random parts, FAULTS_VERBOSE=1
 *        prints the Worker's log, FAULTS_FUZZ_RUNS sets the fuzz size (default 800).
 */
import { flappingReceiver } from './faults/flapping-receiver.ts';
import { fuzz } from './faults/fuzz.ts';
import { deepNesting, poisonRow } from './faults/hostile-rows.ts';
import { inflightOutage } from './faults/inflight-outage.ts';
import { setupFaultEnv, type FaultEnv, type Scenario } from './faults/harness.ts';
import { postgresOutage } from './faults/postgres-outage.ts';
import { redisOutage } from './faults/redis-outage.ts';
import { runtimeKill } from './faults/runtime-kill.ts';
import { shardChange } from './faults/shard-change.ts';

/**
 * `beside`: the scenario breaks only what it owns (its runtime, its tenants, its receiver paths) and
 * spends most of its time waiting out leases and the redrive sweep, so the `beside` scenarios run at
 * the same time, before the others. The rest cut something every scenario shares (the database link,
 * the receiver's behaviour) and run one after another.
 */
const scenarios: Record<string, { title: string; run: Scenario; beside?: true }> = {
  'postgres-outage': { title: '(a) Postgres stopped during steady ingest, then started', run: postgresOutage },
  'inflight-outage': { title: '(a2) database link lost while a delivery attempt is in flight', run: inflightOutage },
  'runtime-kill': { title: '(b) runtime SIGKILLed mid-load and restarted on its state', run: runtimeKill, beside: true },
  'flapping-receiver': { title: '(c) receiver flaps: 500s, timeouts, resets', run: flappingReceiver },
  'redis-outage': { title: '(d) Redis stopped: ingest continues on the fallback limiter', run: redisOutage },
  fuzz: { title: '(e) fast-check fuzzing of ingest and management endpoints', run: fuzz },
  'deep-nesting': { title: '(f) deeply nested events between normal ones: refused at the door, the rest stored', run: deepNesting },
  'poison-row': { title: '(g) rows Postgres refuses (a CHECK constraint): quarantined, the tenant keeps flushing', run: poisonRow },
  'shard-change': { title: '(h) shard count changed 1→4→2 under load, runtime SIGKILLed mid-move', run: shardChange, beside: true },
};

const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const unknown = wanted.filter((w) => !scenarios[w]);
if (unknown.length) {
  console.error(`faults: unknown scenario ${unknown.join(', ')}; choose from ${Object.keys(scenarios).join(', ')}`);
  process.exit(2);
}
const selected = wanted.length ? wanted : Object.keys(scenarios);
const log = (line: string) => console.log(line);

let passed = 0;
let failed = 0;
let env: FaultEnv | null = null;
process.on('SIGINT', () => void (env?.cleanup() ?? Promise.resolve()).finally(() => process.exit(130)));

const started = Date.now();
try {
  log('faults: bundling with `wrangler deploy --dry-run` and preparing a scratch database…');
  env = await setupFaultEnv(log);
  const ready = env;
  const besides = selected.filter((name) => scenarios[name]!.beside);
  if (besides.length > 1) log(`\n${besides.join(' and ')} run at the same time; their reports follow in turn`);
  // the reports of scenarios run side by side are printed whole, one after another, once all of them ended
  const outcomes = await Promise.all(besides.map((name) => runScenario(name, ready)));
  for (const [i, name] of besides.entries()) report(name, outcomes[i]!);
  for (const name of selected.filter((n) => !scenarios[n]!.beside)) report(name, await runScenario(name, ready));
} catch (error) {
  log(`faults: set-up failed: ${(error as Error).stack ?? error}`);
  failed++;
} finally {
  await env?.cleanup();
}
log(`\nfaults: ${((Date.now() - started) / 1000).toFixed(0)} s`);
log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);

interface Ran {
  lines: string[];
  pass: boolean;
  seconds: number;
}

async function runScenario(name: string, env: FaultEnv): Promise<Ran> {
  const t0 = Date.now();
  const lines: string[] = [];
  let pass = false;
  try {
    const outcome = await scenarios[name]!.run(env);
    pass = outcome.pass;
    lines.push(...outcome.lines.map((line) => `  ${line}`), ...outcome.problems.map((problem) => `  ✗ ${problem}`));
  } catch (error) {
    lines.push(`  ✗ the scenario itself failed: ${(error as Error).stack ?? error}`);
  }
  return { lines, pass, seconds: (Date.now() - t0) / 1000 };
}

function report(name: string, ran: Ran): void {
  log(`\n${scenarios[name]!.title}`);
  for (const line of ran.lines) log(line);
  if (ran.pass) passed++;
  else failed++;
  log(`  ${ran.pass ? 'PASS' : 'FAIL'} ${name} (${ran.seconds.toFixed(1)} s)`);
}
