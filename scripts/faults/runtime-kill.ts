/**
 * (b) The runtime (Node + workerd, the whole process group) is SIGKILLed twice mid-load and started
 * again on the same persisted state and port. Producers resend whatever got no answer. Nothing that
 * was acknowledged may be lost; a resend of an event whose first send was written before the kill
 * must come back flagged `duplicate` with the original sequence.
 *
 * Every stored event must also reach the receiver, and an ordered subscription (every tenth event,
 * six partition keys) must keep per-key order across the kills. Miniflare's queue broker keeps
 * messages in memory, so a kill loses the messages it held (production Queues keep them); the
 * redrive sweep (the Cron Trigger, run every 5 s here with a 20 s threshold) must send those
 * deliveries again, an ordered line's in-flight head included. A 1-shard and a 4-shard tenant share
 * the load and the kills.
 */
import { join } from 'node:path';
import { restartRuntime, type Runtime } from '../lib/runtime.ts';
import { createSource, createWebhookSubscription, type Source } from '../lib/switchyard-api.ts';
import { deliveryStates, listDeliveries, neverArrived, orderViolations } from './deliveries.ts';
import { launch, sleep, until, type FaultEnv, type ScenarioOutcome, FAULT_SHARDS } from './harness.ts';
import { createLedger, describeVerdict, type Ledger, loadStored, verifyStorage } from './ledger.ts';
import { runPublishers } from './publishers.ts';

const KILLS = 2;

/** Deliveries the redrive sweep sent again, from its log lines. */
function launchedLogs(logs: string[]): number {
  return logs.reduce((n, line) => n + Number(/"msg":"redrive".*?"resent":(\d+)/.exec(line)?.[1] ?? 0), 0);
}

/**
 * The tenants the kills hit: one on a single log and one spread over 4 shards, side by side under the
 * same kills, so one run shows nothing lost and no key's order broken either way. `FAULTS_SHARDS=N`
 * runs a single tenant of N shards instead.
 */
const SHARD_COUNTS = FAULT_SHARDS > 1 ? [FAULT_SHARDS] : [1, 4];

/** One tenant under load: its subscriptions, its ledger and its publishers. */
interface Arm {
  shards: number;
  source: Source;
  ordered: { id: string };
  ledger: Ledger;
  publishing: Promise<unknown>;
}

export async function runtimeKill(env: FaultEnv): Promise<ScenarioOutcome> {
  const lines: string[] = [];
  const problems: string[] = [];
  const launched = await launch(env, { stateDir: join(env.work, 'state-kill') });
  let runtime: Runtime = launched.runtime;
  let stop = false;
  try {
    const arms: Arm[] = [];
    for (const shards of SHARD_COUNTS) {
      const name = `kill-${shards}`;
      const source = await createSource(launched.api, `faults kill, ${shards} shard${shards > 1 ? 's' : ''}`, { shards });
      await createWebhookSubscription(launched.api, source.tenantId, `${env.receiver.url}/${name}`);
      const ordered = await createWebhookSubscription(launched.api, source.tenantId, `${env.receiver.url}/${name}-ordered`, {
        types: ['kill.ordered'],
        ordering: 'partition',
      });
      const ledger = createLedger();
      // the same total load as one tenant had: 6 single-event producers and 2 batch producers, shared out
      const publishing = runPublishers({
        ledger,
        base: () => runtime.url,
        source,
        label: `${name}-${Date.now().toString(36)}`,
        singles: Math.ceil(6 / SHARD_COUNTS.length),
        batches: { clients: Math.ceil(2 / SHARD_COUNTS.length), size: 25 },
        pauseMs: 5,
        done: () => stop,
        retryForMs: 60_000,
        event: (n) => (n % 10 === 0 ? { type: 'kill.ordered', partitionKey: `key-${(n / 10) % 6}` } : {}),
      });
      arms.push({ shards, source, ordered, ledger, publishing });
    }
    const acknowledged = () => arms.reduce((n, arm) => n + [...arm.ledger.values()].filter((e) => e.acks.length > 0).length, 0);

    for (let k = 0; k < KILLS; k++) {
      await sleep(2_500);
      const before = acknowledged();
      await runtime.kill();
      env.log(`  (b) SIGKILL ${k + 1}/${KILLS} after ${before} acknowledged events; restarting…`);
      await sleep(500);
      const started = Date.now();
      runtime = await restartRuntime(runtime);
      lines.push(`kill ${k + 1}: ${before} events acknowledged before it; back on the same state and port in ${Date.now() - started} ms`);
    }
    await sleep(2_500);
    stop = true;
    await Promise.all(arms.map((arm) => arm.publishing));

    for (const arm of arms) {
      const t0 = Date.now();
      const outcome = await checkArm(env, arm);
      const label = `${arm.shards} shard${arm.shards > 1 ? 's' : ''}`;
      lines.push(...outcome.lines.map((line) => `[${label}] ${line}`));
      problems.push(...outcome.problems.map((problem) => `[${label}] ${problem}`));
      env.log(`  (b) ${label}: checked in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    }
    lines.push(`the redrive sweep sent ${launchedLogs(launched.logs)} stranded deliveries again`);
  } finally {
    stop = true;
    await runtime.stop();
  }
  return { pass: problems.length === 0, lines, problems };
}

/** One tenant's verdict: everything acknowledged stored, every stored event delivered, per-key order kept. */
async function checkArm(env: FaultEnv, arm: Arm): Promise<{ lines: string[]; problems: string[] }> {
  const lines: string[] = [];
  const problems: string[] = [];
  const { source, ledger, ordered } = arm;
  const path = `/kill-${arm.shards}`;
  const acked = [...ledger.values()].filter((e) => e.acks.length > 0).length;
  const caughtUp = await until(async () => (await loadStored(env.database.url, source.tenantId)).length >= acked, 60_000, 500);
  const rows = await loadStored(env.database.url, source.tenantId);
  const verdict = verifyStorage(ledger, rows, { ordered: true });
  lines.push(describeVerdict(verdict));
  const retried = [...ledger.values()].filter((e) => e.unanswered > 0);
  const retriedAsDuplicate = retried.filter((e) => e.acks.some((a) => a.duplicate)).length;
  lines.push(
    `${retried.length} events had a send without answer and were resent: ${retriedAsDuplicate} came back as duplicates of a write that survived the kill, ${retried.length - retriedAsDuplicate} were accepted on the resend`,
  );
  if (!caughtUp) problems.push(`Postgres holds ${rows.length} events, fewer than the ${acked} acknowledged`);
  if (verdict.neverAcknowledged > 0)
    problems.push(`${verdict.neverAcknowledged} published events were never acknowledged although producers kept resending for 60 s`);
  problems.push(...verdict.problems);

  const t0 = Date.now();
  const settled = await until(async () => (await deliveryStates(env.database.url, source.tenantId)).pending === 0, 120_000, 1_000);
  const states = await deliveryStates(env.database.url, source.tenantId);
  const arrived = new Set(env.receiver.received.filter((r) => r.path === path).map((r) => (JSON.parse(r.body) as { id: string }).id));
  lines.push(
    `deliveries ${JSON.stringify(states.byStatus)} ${((Date.now() - t0) / 1000).toFixed(0)} s after the check began; ${arrived.size}/${rows.length} events reached the receiver`,
  );
  if (!settled) problems.push(`${states.pending} deliveries still pending 120 s after the load (e.g. ${states.pendingExamples.join('; ')})`);
  const orderedRows = (await listDeliveries(env.database.url, source.tenantId)).filter((d) => d.subscription_id === ordered.id);
  const orderedArrivals = env.receiver.received.filter((r) => r.path === `${path}-ordered`).map((r) => ({ delivery: r.headers['webhook-id'] ?? '' }));
  const violations = orderViolations(orderedArrivals, orderedRows);
  lines.push(`ordered subscription: ${orderedRows.length} deliveries over 6 keys, ${orderedArrivals.length} arrivals, ${violations.length} order violations`);
  problems.push(...violations.slice(0, 3).map((v) => `ordered subscription: ${v}`));
  problems.push(...neverArrived(rows, arrived));
  return { lines, problems };
}
