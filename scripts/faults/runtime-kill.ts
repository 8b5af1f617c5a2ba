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
 * deliveries again, an ordered line's in-flight head included.
 */
import { join } from 'node:path';
import { restartRuntime, type Runtime } from '../lib/runtime.ts';
import { createSource, createWebhookSubscription } from '../lib/switchyard-api.ts';
import { deliveryStates, listDeliveries, orderViolations } from './deliveries.ts';
import { launch, sleep, until, type FaultEnv, type ScenarioOutcome, FAULT_SHARDS } from './harness.ts';
import { createLedger, describeVerdict, loadStored, verifyStorage } from './ledger.ts';
import { runPublishers } from './publishers.ts';

const KILLS = 2;

/** Deliveries the redrive sweep sent again, from its log lines. */
function launchedLogs(logs: string[]): number {
  return logs.reduce((n, line) => n + Number(/"msg":"redrive".*?"resent":(\d+)/.exec(line)?.[1] ?? 0), 0);
}

export async function runtimeKill(env: FaultEnv): Promise<ScenarioOutcome> {
  const lines: string[] = [];
  const problems: string[] = [];
  const launched = await launch(env, { stateDir: join(env.work, 'state-kill') });
  let runtime: Runtime = launched.runtime;
  try {
    const source = await createSource(launched.api, 'faults kill', { shards: FAULT_SHARDS });
    await createWebhookSubscription(launched.api, source.tenantId, `${env.receiver.url}/kill`);
    const ordered = await createWebhookSubscription(launched.api, source.tenantId, `${env.receiver.url}/kill-ordered`, {
      types: ['kill.ordered'],
      ordering: 'partition',
    });
    const ledger = createLedger();
    let stop = false;
    const publishing = runPublishers({
      ledger,
      base: () => runtime.url,
      source,
      label: `kill-${Date.now().toString(36)}`,
      singles: 6,
      batches: { clients: 2, size: 25 },
      pauseMs: 5,
      done: () => stop,
      retryForMs: 60_000,
      event: (n) => (n % 10 === 0 ? { type: 'kill.ordered', partitionKey: `key-${(n / 10) % 6}` } : {}),
    });

    for (let k = 0; k < KILLS; k++) {
      await sleep(2_500);
      const before = [...ledger.values()].filter((e) => e.acks.length > 0).length;
      await runtime.kill();
      env.log(`  (b) SIGKILL ${k + 1}/${KILLS} after ${before} acknowledged events; restarting…`);
      await sleep(500);
      const started = Date.now();
      runtime = await restartRuntime(runtime);
      lines.push(`kill ${k + 1}: ${before} events acknowledged before it; back on the same state and port in ${Date.now() - started} ms`);
    }
    await sleep(2_500);
    stop = true;
    await publishing;

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
    const arrived = new Set(env.receiver.received.filter((r) => r.path === '/kill').map((r) => (JSON.parse(r.body) as { id: string }).id));
    const redriven = launchedLogs(launched.logs);
    lines.push(
      `deliveries ${JSON.stringify(states.byStatus)} ${((Date.now() - t0) / 1000).toFixed(0)} s after the load; ${arrived.size}/${rows.length} events reached the receiver; the redrive sweep sent ${redriven} stranded deliveries again`,
    );
    if (!settled) problems.push(`${states.pending} deliveries still pending 120 s after the load (e.g. ${states.pendingExamples.join('; ')})`);
    const orderedRows = (await listDeliveries(env.database.url, source.tenantId)).filter((d) => d.subscription_id === ordered.id);
    const orderedArrivals = env.receiver.received.filter((r) => r.path === '/kill-ordered').map((r) => ({ delivery: r.headers['webhook-id'] ?? '' }));
    const violations = orderViolations(orderedArrivals, orderedRows);
    lines.push(`ordered subscription: ${orderedRows.length} deliveries over 6 keys, ${orderedArrivals.length} arrivals, ${violations.length} order violations`);
    problems.push(...violations.slice(0, 3).map((v) => `ordered subscription: ${v}`));
    const missing = rows.filter((r) => !arrived.has(r.ce_id));
    if (missing.length)
      problems.push(
        `${missing.length} stored events never reached the receiver (e.g. ${missing
          .slice(0, 3)
          .map((r) => r.ce_id)
          .join(', ')})`,
      );
  } finally {
    await runtime.stop();
  }
  return { pass: problems.length === 0, lines, problems };
}
