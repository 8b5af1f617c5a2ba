/**
 * `npm run test:faults`: the fault suite. Each scenario runs the deploy bundle under workerd
 * (scripts/lib/runtime.ts), breaks something, and checks a per-event ledger of what was published,
 * acknowledged, stored and delivered. Ends with the line `N passed, N failed`; exits 1 on a failure.
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

const scenarios: Record<string, { title: string; run: Scenario }> = {
  'postgres-outage': { title: '(a) Postgres stopped during steady ingest, then started', run: postgresOutage },
  'inflight-outage': { title: '(a2) database link lost while a delivery attempt is in flight', run: inflightOutage },
  'runtime-kill': { title: '(b) runtime SIGKILLed mid-load and restarted on its state', run: runtimeKill },
  'flapping-receiver': { title: '(c) receiver flaps: 500s, timeouts, resets', run: flappingReceiver },
  'redis-outage': { title: '(d) Redis stopped: ingest continues on the fallback limiter', run: redisOutage },
  fuzz: { title: '(e) fast-check fuzzing of ingest and management endpoints', run: fuzz },
  'deep-nesting': { title: '(f) deeply nested events between normal ones: refused at the door, the rest stored', run: deepNesting },
  'poison-row': { title: '(g) rows Postgres refuses (a CHECK constraint): quarantined, the tenant keeps flushing', run: poisonRow },
  'shard-change': { title: '(h) shard count changed 1→4→2 under load, runtime SIGKILLed mid-move', run: shardChange },
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
  for (const name of selected) {
    const scenario = scenarios[name]!;
    log(`\n${scenario.title}`);
    const t0 = Date.now();
    let pass = false;
    try {
      const outcome = await scenario.run(env);
      pass = outcome.pass;
      for (const line of outcome.lines) log(`  ${line}`);
      for (const problem of outcome.problems) log(`  ✗ ${problem}`);
    } catch (error) {
      log(`  ✗ the scenario itself failed: ${(error as Error).stack ?? error}`);
    }
    if (pass) passed++;
    else failed++;
    log(`  ${pass ? 'PASS' : 'FAIL'} ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  }
} catch (error) {
  log(`faults: set-up failed: ${(error as Error).stack ?? error}`);
  failed++;
} finally {
  await env?.cleanup();
}
log(`\nfaults: ${((Date.now() - started) / 1000).toFixed(0)} s`);
log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
