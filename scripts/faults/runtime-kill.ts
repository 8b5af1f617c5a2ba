/**
 * (b) The runtime (Node + workerd, the whole process group) is SIGKILLed twice mid-load and started
 * again on the same persisted state and port. Producers resend whatever got no answer. Nothing that
 * was acknowledged may be lost; a resend of an event whose first send was written before the kill
 * must come back flagged `duplicate` with the original sequence.
 *
 * Deliveries are reported but not judged: Miniflare's queue broker keeps messages in memory, so a
 * kill loses messages that production Cloudflare Queues would keep.
 */
import { join } from 'node:path';
import { restartRuntime, type Runtime } from '../lib/runtime.ts';
import { createSource, createWebhookSubscription } from '../lib/switchyard-api.ts';
import { deliveryStates } from './deliveries.ts';
import { launch, sleep, until, type FaultEnv, type ScenarioOutcome } from './harness.ts';
import { createLedger, describeVerdict, loadStored, verifyStorage } from './ledger.ts';
import { runPublishers } from './publishers.ts';

const KILLS = 2;

export async function runtimeKill(env: FaultEnv): Promise<ScenarioOutcome> {
  const lines: string[] = [];
  const problems: string[] = [];
  const launched = await launch(env, { stateDir: join(env.work, 'state-kill') });
  let runtime: Runtime = launched.runtime;
  try {
    const source = await createSource(launched.api, 'faults kill');
    await createWebhookSubscription(launched.api, source.tenantId, `${env.receiver.url}/kill`);
    const ledger = createLedger();
    let stop = false;
    const publishing = runPublishers({ ledger, base: () => runtime.url, source, label: `kill-${Date.now().toString(36)}`, singles: 6, batches: { clients: 2, size: 25 }, pauseMs: 5, done: () => stop, retryForMs: 60_000 });

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
    lines.push(`${retried.length} events had a send without answer and were resent: ${retriedAsDuplicate} came back as duplicates of a write that survived the kill, ${retried.length - retriedAsDuplicate} were accepted on the resend`);
    if (!caughtUp) problems.push(`Postgres holds ${rows.length} events, fewer than the ${acked} acknowledged`);
    if (verdict.neverAcknowledged > 0) problems.push(`${verdict.neverAcknowledged} published events were never acknowledged although producers kept resending for 60 s`);
    problems.push(...verdict.problems);

    await until(async () => (await deliveryStates(env.database.url, source.tenantId)).pending === 0, 15_000, 500);
    const states = await deliveryStates(env.database.url, source.tenantId);
    const arrived = new Set(env.receiver.received.filter((r) => r.path === '/kill').map((r) => (JSON.parse(r.body) as { id: string }).id)).size;
    lines.push(`deliveries (informational): ${JSON.stringify(states.byStatus)}, ${arrived}/${rows.length} events reached the receiver${states.pending ? `; pending ones were in Miniflare's in-memory queue at a kill (production Queues persist them) or are waiting out a lease: ${states.pendingExamples.join('; ')}` : ''}`);
  } finally {
    await runtime.stop();
  }
  return { pass: problems.length === 0, lines, problems };
}
