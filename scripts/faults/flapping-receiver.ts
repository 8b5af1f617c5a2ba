/**
 * (c) The receiver flaps for the whole run: about 35 % of requests get a 500, 10 % hang past the
 * subscription's timeout, 10 % have their connection reset, the rest get a 200. Two subscriptions:
 * unordered (all events) and `ordering: "partition"` (half of them, six partition keys), both with a
 * six-attempt schedule of 1-second waits. Every delivery must end `delivered` (with a 2xx the
 * receiver really gave) or `failed` after all its attempts; none may stay pending or vanish; and the
 * ordered subscription must never start an event before the previous one of its key has ended.
 */
import { join } from 'node:path';
import type { ScriptedResponse } from '../lib/receiver.ts';
import { createSource, makeEvent, signedIngest } from '../lib/switchyard-api.ts';
import { listDeliveries, orderViolations } from './deliveries.ts';
import { launch, until, type FaultEnv, type ScenarioOutcome, FAULT_SHARDS } from './harness.ts';
import { createLedger, describeVerdict, loadStored, publish, verifyStorage } from './ledger.ts';

const EVENTS = 80;
const KEYS = 6;
const SCHEDULE = [0, 1, 1, 1, 1, 1];
const TIMEOUT_MS = 1_000;

/** A deterministic mix of answers (mulberry32), so a failing run can be replayed. */
function flappingScript(seed: number, length: number): ScriptedResponse[] {
  let state = seed >>> 0;
  const random = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return Array.from({ length }, (): ScriptedResponse => {
    const r = random();
    if (r < 0.35) return { status: 500, body: 'flap' };
    if (r < 0.45) return { status: 200, delayMs: TIMEOUT_MS + 600 };
    if (r < 0.55) return { reset: true };
    return { status: 200 };
  });
}

export async function flappingReceiver(env: FaultEnv): Promise<ScenarioOutcome> {
  const lines: string[] = [];
  const problems: string[] = [];
  const seed = Number(process.env.FAULTS_SEED ?? Date.now() % 1_000_000);
  const scripts = { '/flap-any': flappingScript(seed, 2_000), '/flap-ordered': flappingScript(seed + 1, 2_000) };
  for (const [path, responses] of Object.entries(scripts)) env.receiver.setBehaviour(path, { responses: [...responses], default: { status: 200 } });
  lines.push(`receiver script seed ${seed} (FAULTS_SEED=${seed} replays it)`);

  const { runtime, api, logs } = await launch(env, { stateDir: join(env.work, 'state-flap') });
  try {
    const source = await createSource(api, 'faults flapping receiver', { shards: FAULT_SHARDS });
    const common = { retry_schedule: SCHEDULE };
    const anySub = await api.must<{ id: string }>('POST', `/v1/tenants/${source.tenantId}/subscriptions`, {
      types: ['flap.*'],
      action: { type: 'webhook', config: { url: `${env.receiver.url}/flap-any`, timeout_ms: TIMEOUT_MS } },
      failure_threshold: 10_000,
      ...common,
    });
    const orderedSub = await api.must<{ id: string }>('POST', `/v1/tenants/${source.tenantId}/subscriptions`, {
      types: ['flap.ordered'],
      ordering: 'partition',
      action: { type: 'webhook', config: { url: `${env.receiver.url}/flap-ordered`, timeout_ms: TIMEOUT_MS } },
      failure_threshold: 10_000,
      ...common,
    });

    const ledger = createLedger();
    const tag = Date.now().toString(36);
    const requests = Array.from({ length: EVENTS / 10 }, (_, b) =>
      signedIngest(
        source,
        Array.from({ length: 10 }, (_, i) => {
          const n = b * 10 + i;
          return makeEvent(`flap-${tag}-${n}`, n, n % 2 ? { type: 'flap.ordered', partitionKey: `key-${n % KEYS}` } : { type: 'flap.plain' });
        }),
        'batch',
      ),
    );
    for (const request of requests) await publish(ledger, () => runtime.url, request, Date.now() + 30_000);
    const acked = [...ledger.values()].filter((e) => e.acks.length).length;
    await until(async () => (await loadStored(env.database.url, source.tenantId)).filter((r) => !r.type.startsWith('switchyard.')).length >= acked, 30_000);
    const storage = verifyStorage(ledger, await loadStored(env.database.url, source.tenantId));
    lines.push(describeVerdict(storage));
    problems.push(...storage.problems);

    const expected = EVENTS + EVENTS / 2;
    const settled = await until(
      async () => {
        const rows = (await listDeliveries(env.database.url, source.tenantId)).filter((d) => !d.type.startsWith('switchyard.'));
        return rows.length === expected && rows.every((d) => d.status !== 'pending');
      },
      120_000,
      1_000,
    );
    const deliveries = (await listDeliveries(env.database.url, source.tenantId)).filter((d) => !d.type.startsWith('switchyard.'));
    const byStatus: Record<string, number> = {};
    for (const d of deliveries) byStatus[d.status] = (byStatus[d.status] ?? 0) + 1;
    lines.push(`${deliveries.length}/${expected} deliveries: ${JSON.stringify(byStatus)}`);
    if (!settled)
      problems.push(
        `deliveries did not all end within 120 s: ${JSON.stringify(byStatus)} (e.g. ${deliveries
          .filter((d) => d.status === 'pending')
          .slice(0, 3)
          .map((d) => `${d.id} ${d.attempts} attempts, lease ${d.leased_until ?? 'none'}`)
          .join('; ')})`,
      );

    // what the receiver saw, and what it answered (its script is consumed in arrival order per path)
    const arrivals = (path: keyof typeof scripts) =>
      env.receiver.received
        .filter((r) => r.path === path)
        .map((r, i) => ({ delivery: r.headers['webhook-id'] ?? '', id: (JSON.parse(r.body) as { id: string }).id, ok: isOk(scripts[path][i]), at: r.at }));
    const seen = { [anySub.id]: arrivals('/flap-any'), [orderedSub.id]: arrivals('/flap-ordered') };
    let dropped = 0;
    for (const d of deliveries) {
      const mine = (seen[d.subscription_id] ?? []).filter((a) => a.delivery === d.id);
      if (d.status === 'delivered' && !mine.some((a) => a.ok)) problems.push(`${d.id} is delivered but the receiver never answered it with a timely 2xx`);
      if (d.status === 'failed' && d.attempts < SCHEDULE.length) problems.push(`${d.id} failed after ${d.attempts} of ${SCHEDULE.length} attempts`);
      if (d.status === 'failed' && mine.some((a) => a.ok)) problems.push(`${d.id} failed although the receiver answered one attempt with a timely 2xx`);
      if (d.recorded_attempts !== d.attempts) problems.push(`${d.id}: ${d.attempts} attempts counted, ${d.recorded_attempts} recorded`);
      if (mine.length === 0 && d.status !== 'pending') dropped++;
    }
    if (dropped) problems.push(`${dropped} deliveries ended without the receiver ever seeing an attempt`);
    lines.push(`receiver saw ${seen[anySub.id]!.length} requests on the unordered and ${seen[orderedSub.id]!.length} on the ordered subscription`);

    // per key: once an event's attempts start, no earlier event of the key may show up again, and no later one may start before it ended
    const orderedRows = deliveries.filter((d) => d.subscription_id === orderedSub.id);
    const violations = orderViolations(seen[orderedSub.id]!, orderedRows);
    problems.push(...violations.slice(0, 3).map((v) => `ordered subscription: ${v}`));
    lines.push(`ordered subscription: ${orderedRows.length} deliveries over ${KEYS} keys, ${violations.length} order violations`);
    if (problems.length) lines.push(...logs.slice(-5).map((l) => `worker log: ${l.slice(0, 300)}`));
  } finally {
    await runtime.stop();
  }
  return { pass: problems.length === 0, lines, problems };
}

function isOk(answer: ScriptedResponse | undefined): boolean {
  if (!answer) return true;
  return !answer.reset && !answer.delayMs && (answer.status ?? 200) < 300;
}
