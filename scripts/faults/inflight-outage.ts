/**
 * (a2) The database link drops while a delivery attempt is in flight. The receiver holds the first
 * attempt for 3 s and then answers 500; meanwhile the Worker's Postgres link is cut (its WebSocket
 * proxy paused for 1.5 s), so the consumer cannot record the attempt at first. The delivery must
 * still get its retry and end `delivered`, with every attempt on record (the consumer retries the
 * recording on a fresh connection) — not stay `pending` with nobody left to try it again.
 */
import { join } from 'node:path';
import { createSource, makeEvent, send, signedIngest } from '../lib/switchyard-api.ts';
import { startWsProxy } from '../lib/ws-proxy.ts';
import { listDeliveries } from './deliveries.ts';
import { launch, sleep, until, type FaultEnv, type ScenarioOutcome, FAULT_SHARDS } from './harness.ts';

const WAIT_MS = 85_000;

export async function inflightOutage(env: FaultEnv): Promise<ScenarioOutcome> {
  const lines: string[] = [];
  const problems: string[] = [];
  const proxy = await startWsProxy();
  const { runtime, api, logs } = await launch(env, { stateDir: join(env.work, 'state-inflight'), bindings: { NEON_WS_PROXY: proxy.endpoint } });
  try {
    const source = await createSource(api, 'faults in-flight outage', { shards: FAULT_SHARDS });
    await api.must('POST', `/v1/tenants/${source.tenantId}/subscriptions`, {
      types: ['**'],
      action: { type: 'webhook', config: { url: `${env.receiver.url}/inflight` } },
      retry_schedule: [0, 1, 1],
    });
    env.receiver.setBehaviour('/inflight', { responses: [{ status: 500, delayMs: 3_000 }], default: { status: 200 } });
    const answer = await send(runtime.url, signedIngest(source, [makeEvent(`inflight-${Date.now().toString(36)}`, 1)], 'single'));
    if (answer.status !== 202) throw new Error(`ingest answered ${answer.status}`);

    await env.receiver.waitFor('/inflight', 1, 20_000);
    proxy.pause();
    env.log('  (a2) first attempt in flight; database link cut for 1.5 s');
    await sleep(1_500);
    proxy.resume();

    const t0 = Date.now();
    const ended = await until(async () => (await listDeliveries(env.database.url, source.tenantId))[0]?.status === 'delivered', WAIT_MS, 1_000);
    const [delivery] = await listDeliveries(env.database.url, source.tenantId);
    const attempts = env.receiver.received.filter((r) => r.path === '/inflight').length;
    lines.push(
      `after ${((Date.now() - t0) / 1000).toFixed(0)} s: delivery ${delivery?.status ?? 'missing'}, ${delivery?.attempts ?? 0} attempts counted, ${delivery?.recorded_attempts ?? 0} recorded, lease ${delivery?.leased_until ?? 'none'}; the receiver saw ${attempts} attempt(s)`,
    );
    if (ended && delivery && delivery.recorded_attempts !== delivery.attempts) {
      problems.push(
        `${delivery.attempts} attempts counted but ${delivery.recorded_attempts} in the delivery log: an attempt made while the database was unreachable was not recorded`,
      );
    }
    if (!ended) {
      problems.push(
        `the delivery was not retried after its first attempt failed while the database was unreachable: still ${delivery?.status} ${WAIT_MS / 1000} s later with ${delivery?.attempts} attempt counted and ${delivery?.recorded_attempts} recorded (the queue message was acknowledged without a retry)`,
      );
      const failed = logs.filter((l) => l.includes('delivery batch failed')).length;
      lines.push(`worker logged "delivery batch failed" ${failed} time(s)`);
    }
  } finally {
    await runtime.stop();
    await proxy.close();
  }
  return { pass: problems.length === 0, lines, problems };
}
