/**
 * Priority lanes (README "Priorities"): a backlog of 10,000 normal deliveries queued to a slow receiver
 * (50 ms per request), then a few critical events, one at a time. Each critical event's
 * accepted-to-delivered time is measured, with how much of the backlog was still waiting when it
 * arrived. For contrast, a normal event sent with the first critical one is placed behind everything
 * queued before it: its wait is estimated from the backlog left and the receiver's measured drain
 * rate, not waited for (that would take minutes). The backlog keeps draining after the case.
 */
import { query } from '../lib/postgres.ts';
import type { Receiver } from '../lib/receiver.ts';
import { makeEvent, send, signedIngest, type Api } from '../lib/switchyard-api.ts';
import { createSource, createWebhookSubscription } from '../lib/switchyard-api.ts';

const PATH = '/priority';
const BACKLOG = 10_000;
const CRITICAL = 5;
const RECEIVER_DELAY_MS = 50;

export interface PriorityOvertake {
  backlog: number;
  receiverDelayMs: number;
  /** Accepted (202) to delivered, per critical event, in order sent. */
  criticalAckedToDeliveredMs: number[];
  /** Sent to delivered, per critical event. */
  criticalSentToDeliveredMs: number[];
  /** Normal deliveries of the backlog not yet delivered when each critical event arrived. */
  backlogLeftAtArrival: number[];
  /** The receiver's rate on the normal lane while the case ran (deliveries/s). */
  normalDrainPerSecond: number;
  /** The normal event sent with the first critical one: deliveries ahead of it, and its estimated wait. */
  normalContrast: { ahead: number; estimatedWaitMs: number };
}

export async function measurePriorityOvertake(
  api: Api,
  base: string,
  databaseUrl: string,
  receiver: Receiver,
  log: (line: string) => void,
): Promise<PriorityOvertake> {
  const source = await createSource(api, 'bench priority');
  await api.must('PATCH', `/v1/tenants/${source.tenantId}/sources/${source.sourceId}`, { allow_critical: true });
  receiver.setBehaviour(PATH, { default: { status: 200, delayMs: RECEIVER_DELAY_MS } });
  await createWebhookSubscription(api, source.tenantId, `${receiver.url}${PATH}`);
  const tag = Date.now().toString(36);
  log(`bench: priority lanes, ${BACKLOG} normal deliveries queued to a receiver taking ${RECEIVER_DELAY_MS} ms each…`);
  const batches = Array.from({ length: BACKLOG / 1000 }, (_, b) =>
    signedIngest(
      source,
      Array.from({ length: 1000 }, (_, i) => makeEvent(`prio-${tag}-${b * 1000 + i}`, b * 1000 + i)),
      'batch',
    ),
  );
  for (const batch of batches) {
    const answer = await send(base, batch);
    if (answer.status !== 202) throw new Error(`priority case: a backlog batch answered ${answer.status}`);
  }
  // queued: every delivery is in Postgres, the TenantLog sent its messages, and the receiver is busy
  await waitFor(
    async () =>
      Number(((await query(databaseUrl, 'SELECT count(*) AS n FROM deliveries WHERE tenant_id = $1', [source.tenantId]))[0] as { n: string }).n) >= BACKLOG,
    60_000,
  );
  await waitFor(
    async () => (await api.must<{ backlog: { dispatch: number } }>('GET', `/v1/tenants/${source.tenantId}/metrics?window=1h`)).backlog.dispatch === 0,
    30_000,
  );
  await receiver.waitFor(PATH, 1, 30_000);

  const normalArrived = () => receiver.received.filter((r) => r.path === PATH && !r.body.includes('"priority":"critical"')).length;
  const drainStart = { at: Date.now(), count: normalArrived() };
  const result: PriorityOvertake = {
    backlog: BACKLOG,
    receiverDelayMs: RECEIVER_DELAY_MS,
    criticalAckedToDeliveredMs: [],
    criticalSentToDeliveredMs: [],
    backlogLeftAtArrival: [],
    normalDrainPerSecond: 0,
    normalContrast: { ahead: 0, estimatedWaitMs: 0 },
  };
  for (let i = 0; i < CRITICAL; i++) {
    const critical = signedIngest(source, [{ ...makeEvent(`prio-${tag}-critical-${i}`, i), priority: 'critical' }], 'single');
    const normal = i === 0 ? signedIngest(source, [makeEvent(`prio-${tag}-normal-contrast`, BACKLOG)], 'single') : null;
    const id = critical.ids[0]!;
    const sentAt = Date.now();
    const answer = await send(base, critical);
    const ackedAt = Date.now();
    if (answer.status !== 202) throw new Error(`priority case: a critical event answered ${answer.status}`);
    if (normal) {
      // everything queued before it and not yet delivered is ahead of it on the normal lane
      result.normalContrast.ahead = BACKLOG - normalArrived();
      await send(base, normal);
    }
    const arrival = await waitForArrival(receiver, id, 30_000);
    result.criticalSentToDeliveredMs.push(arrival - sentAt);
    result.criticalAckedToDeliveredMs.push(arrival - ackedAt);
    result.backlogLeftAtArrival.push(BACKLOG - normalArrived());
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  const elapsed = (Date.now() - drainStart.at) / 1000;
  result.normalDrainPerSecond = Math.round((normalArrived() - drainStart.count) / elapsed);
  result.normalContrast.estimatedWaitMs = Math.round((result.normalContrast.ahead / Math.max(1, result.normalDrainPerSecond)) * 1000);
  log(
    `bench: critical accepted-to-delivered ${result.criticalAckedToDeliveredMs.join(', ')} ms with ${result.backlogLeftAtArrival.join(', ')} normal deliveries still queued; a normal event sent with the first waits behind ${result.normalContrast.ahead} (~${(result.normalContrast.estimatedWaitMs / 1000).toFixed(0)} s at ${result.normalDrainPerSecond}/s)`,
  );
  return result;
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('priority case: the backlog was not queued in time');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function waitForArrival(receiver: Receiver, id: string, timeoutMs: number): Promise<number> {
  const needle = `"id":"${id}"`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const hit = receiver.received.find((r) => r.path === PATH && r.body.includes(needle));
    if (hit) return hit.at;
    if (Date.now() > deadline) throw new Error(`priority case: critical event ${id} was not delivered within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
