/**
 * (h) A live tenant's shard count is changed 1→4, then 4→2, under load, and the runtime is SIGKILLed
 * in the middle of each move (docs/design/sharding.md §4 and §8). Producers keep sending keyed and
 * keyless events (singles and 25-event batches) and resend whatever got no answer, a 5xx or a 429 —
 * a batch's per-item 503s (`shard_moving`, `storage_unavailable`) included, as the shared `publish`
 * does. Six keys are each sent by one producer, one event at a time, so their
 * publish order is defined; an ordered webhook subscription covers them.
 *
 * The kill lands once `GET /v1/tenants/{t}` shows the change `moving` with a slot released. A move too
 * fast to catch is killed right after it (and the next one right after its PATCH answers); the output
 * says which happened. FAULTS_SHARD_KILL=patch kills both right after their PATCH answers.
 *
 * Verdict: nothing acknowledged lost (the ledger), resends of events acknowledged before each kill
 * answer `duplicate` with their first sequence, every change `done` within 60 s of the restart, per
 * key the stored `(received_at, sequence)` order and the receiver's arrival order equal the publish
 * order. Sequences are not compared across shards: a key that moves to a lower
 * shard gets lower sequences (deliveries.ts `orderViolations` compares them, so it is not used here).
 */
import { join } from 'node:path';
import { query } from '../lib/postgres.ts';
import { restartRuntime, type Runtime } from '../lib/runtime.ts';
import { createSource, createWebhookSubscription, makeEvent, send, signedIngest, type Api, type SignedRequest } from '../lib/switchyard-api.ts';
import { deliveryStates } from './deliveries.ts';
import { launch, sleep, until, type FaultEnv, type ScenarioOutcome } from './harness.ts';
import { createLedger, describeVerdict, loadStored, recordAnswer, verifyStorage, type Ledger } from './ledger.ts';

/** key-0, 1, 3, 4 change shard on 1→4 and key-1, 3 again on 4→2 (slotOf/ownerOf of src/tenancy/shard-routing.ts); key-2, 5 stay on 0. */
const ORDERED_KEYS = ['key-0', 'key-1', 'key-2', 'key-3', 'key-4', 'key-5'];
const ORDERED_TYPE = 'shard.ordered';
/** SEQUENCE_STRIDE of src/tenancy/shard-routing.ts: a sequence names its shard. */
const STRIDE = 10_000_000_000_000;
const DONE_WITHIN_MS = 60_000;

interface ShardChange {
  epoch: number;
  from: number;
  to: number;
  state: 'moving' | 'done';
  started_at: string;
  finished_at: string | null;
  released_slots: number;
  moving_slots: number;
}

interface Sent {
  request: SignedRequest;
  keyed: boolean;
  ackedAt: number;
}

/** Answers other than 202, counted by status and problem code (`per-item 503 shard_moving`, `no answer`, …). */
type Answers = Map<string, number>;

/** Counts one answer; true when every item of the request was answered 202. */
function countAnswer(answers: Answers, status: number, json: unknown): boolean {
  const count = (what: string) => answers.set(what, (answers.get(what) ?? 0) + 1);
  if (status === 0) count('no answer');
  else if (status !== 202) count(`${status} ${(json as { code?: string } | null)?.code ?? ''}`.trim());
  else {
    const items = (json as { results?: { status?: number; code?: string }[] } | null)?.results ?? [];
    const open = items.filter((item) => item.status !== 202);
    for (const item of open) count(`per-item ${item.status} ${item.code ?? ''}`.trim());
    return open.length === 0;
  }
  return false;
}

/** Sends until every item of `request` is answered 2xx or refused for a reason (4xx), or `deadline` passes. */
async function sendUntilAnswered(ledger: Ledger, answers: Answers, base: () => string, request: SignedRequest, deadline: number): Promise<boolean> {
  for (;;) {
    const answer = await send(base(), request, 10_000);
    recordAnswer(ledger, request, answer.status, answer.json);
    if (countAnswer(answers, answer.status, answer.json)) return true;
    const items = (answer.json as { results?: { status?: number }[] } | null)?.results;
    const retryable = (s: number) => s === 0 || s >= 500 || s === 429;
    if (!(retryable(answer.status) || items?.some((item) => retryable(item.status ?? 0))) || Date.now() > deadline) return false;
    await sleep(200);
  }
}

async function movingRow(databaseUrl: string, tenantId: string): Promise<Pick<ShardChange, 'state' | 'released_slots' | 'moving_slots'> | undefined> {
  const rows = (await query(databaseUrl, 'SELECT state, released_slots, moving_slots FROM shard_changes WHERE tenant_id = $1 ORDER BY epoch DESC LIMIT 1', [
    tenantId,
  ])) as Pick<ShardChange, 'state' | 'released_slots' | 'moving_slots'>[];
  return rows[0];
}

async function readChange(api: Api, tenantId: string): Promise<{ shards: number; change: ShardChange | null | undefined }> {
  const tenant = await api.must<{ shards: number; shard_change?: ShardChange | null }>('GET', `/v1/tenants/${tenantId}`);
  return { shards: tenant.shards, change: tenant.shard_change };
}

export async function shardChange(env: FaultEnv): Promise<ScenarioOutcome> {
  const lines: string[] = [];
  const problems: string[] = [];
  const launched = await launch(env, { stateDir: join(env.work, 'state-shard-change') });
  let runtime: Runtime = launched.runtime;
  const api = launched.api;
  const ledger = createLedger();
  const answers: Answers = new Map();
  const sent: Sent[] = [];
  const orderOf = new Map<string, { key: string; index: number }>();
  let stop = false;
  let publishing: Promise<unknown> = Promise.resolve();
  try {
    const source = await createSource(api, 'faults shard change');
    const ordered = await createWebhookSubscription(api, source.tenantId, `${env.receiver.url}/shard-ordered`, {
      types: [ORDERED_TYPE],
      ordering: 'partition',
    });
    const label = `shard-${Date.now().toString(36)}`;
    const base = () => runtime.url;
    const loop = async (next: () => SignedRequest, keyed: boolean, pauseMs: number) => {
      while (!stop) {
        const request = next();
        if (await sendUntilAnswered(ledger, answers, base, request, Date.now() + 60_000)) sent.push({ request, keyed, ackedAt: Date.now() });
        await sleep(pauseMs);
      }
    };
    let n = 0;
    // keyless (the subject routes them, one slot each) and keyed by eight more keys, in batches and singles
    const bulk = () => {
      const i = ++n;
      return makeEvent(`${label}-${i}`, i, i % 3 === 0 ? { partitionKey: `bulk-${i % 8}` } : {});
    };
    publishing = Promise.all([
      ...ORDERED_KEYS.map((key) => {
        let index = 0;
        return loop(
          () => {
            const id = `${label}-${key}-${++index}`;
            orderOf.set(id, { key, index });
            return signedIngest(source, [makeEvent(id, ++n, { type: ORDERED_TYPE, partitionKey: key })], 'single');
          },
          true,
          // ordered deliveries go about one a second per key on this runtime: a backlog would only lengthen the run
          700,
        );
      }),
      ...[0, 1].map(() => loop(() => signedIngest(source, Array.from({ length: 25 }, bulk), 'batch'), false, 20)),
      ...[0, 1].map(() => loop(() => signedIngest(source, [bulk()], 'single'), false, 10)),
    ]);

    await sleep(3_000);
    const kills: number[] = [];
    let killRightAfterPatch = process.env.FAULTS_SHARD_KILL === 'patch';
    let from = 1;
    for (const to of [4, 2]) {
      const patching = Date.now();
      let patch = await api.call<{ code?: string; detail?: string }>('PATCH', `/v1/tenants/${source.tenantId}`, { shards: to });
      for (let i = 0; i < 5 && patch.status === 503; i++) {
        await sleep(500);
        patch = await api.call('PATCH', `/v1/tenants/${source.tenantId}`, { shards: to });
      }
      const patchedAt = Date.now();
      if (patch.status !== 200) {
        problems.push(
          patch.json?.code === 'shard_change_unsupported'
            ? `PATCH /v1/tenants/{t} {"shards": ${to}} answered 409 shard_change_unsupported: this build has no live cut-over (docs/design/sharding.md §4), so the scenario cannot run (${patch.json.detail ?? ''})`
            : `PATCH /v1/tenants/{t} {"shards": ${to}} answered ${patch.status} ${JSON.stringify(patch.json).slice(0, 300)}`,
        );
        break;
      }
      const acknowledged = () => [...ledger.values()].filter((e) => e.acks.length > 0).length;
      let point = `right after the PATCH answered in ${patchedAt - patching} ms (${acknowledged()} events acknowledged)`;
      if (!killRightAfterPatch) {
        // what the polls saw, ms after the PATCH answered (each change of it once); the table the GET reads,
        // polled directly: under load a GET takes about a second, as long as a whole move
        const seen: string[] = [];
        for (;;) {
          const change = await movingRow(env.database.url, source.tenantId);
          const now = `${change?.state} ${change?.released_slots}/${change?.moving_slots}`;
          if (!seen.at(-1)?.endsWith(now)) seen.push(`${Date.now() - patchedAt} ms ${now}`);
          if (change?.state === 'done') {
            point = `after it: the PATCH answered in ${patchedAt - patching} ms and the polls saw ${seen.join(', ')}, so the move was done before one caught a slot released (the next change is killed right after its PATCH)`;
            killRightAfterPatch = true;
            break;
          }
          if ((change?.released_slots ?? 0) > 0 || Date.now() - patchedAt > 3_000) {
            point = `mid-move, ${Date.now() - patchedAt} ms after the PATCH answered (in ${patchedAt - patching} ms), the polls saw ${seen.join(', ')}; ${acknowledged()} events acknowledged`;
            break;
          }
          await sleep(20);
        }
      }
      kills.push(Date.now());
      await runtime.kill();
      env.log(`  (h) ${from}→${to}: SIGKILL ${point}; restarting…`);
      await sleep(500);
      const restarting = Date.now();
      runtime = await restartRuntime(runtime);
      const restarted = Date.now();
      let last: ShardChange | null | undefined;
      const done = await until(
        async () => {
          const read = await readChange(api, source.tenantId);
          last = read.change;
          return read.shards === to && last?.state === 'done' && last.to === to;
        },
        DONE_WITHIN_MS,
        250,
      );
      lines.push(
        `${from}→${to}: killed ${point}; back in ${restarted - restarting} ms; ${done ? `done ${((Date.now() - restarted) / 1000).toFixed(1)} s after the restart (started ${last?.started_at}, finished ${last?.finished_at}, ${last?.moving_slots} slots moved)` : `not done ${DONE_WITHIN_MS / 1000} s after the restart: ${JSON.stringify(last)}`}`,
      );
      if (!done) {
        problems.push(
          last === undefined
            ? `GET /v1/tenants/{t} carries no shard_change after PATCH {"shards": ${to}}`
            : `the change to ${to} shards did not reach done within ${DONE_WITHIN_MS / 1000} s of the restart (last seen ${JSON.stringify(last)})`,
        );
        break;
      }
      from = to;
      await sleep(2_000);
    }
    stop = true;
    await publishing;

    // resends of events acknowledged before each kill: the same request, answered duplicate with the first sequence
    const sample = kills.flatMap((at, k) => {
      const before = sent.filter((s) => s.ackedAt < at && (k === 0 || s.ackedAt >= kills[k - 1]!));
      return [...before.filter((s) => s.keyed).slice(-6), ...before.filter((s) => !s.keyed).slice(-2)];
    });
    for (const s of sample) await sendUntilAnswered(ledger, answers, base, s.request, Date.now() + 20_000);
    const sampleIds = sample.flatMap((s) => s.request.ids);
    const sameAsFirst = sampleIds.filter((id) => {
      const acks = ledger.get(id)?.acks ?? [];
      return acks.length > 1 && acks.at(-1)!.duplicate && acks.at(-1)!.sequence === acks[0]!.sequence;
    });
    lines.push(
      `resent ${sample.length} requests (${sampleIds.length} events) acknowledged before the kills: ${sameAsFirst.length} answered duplicate with their first sequence`,
    );
    if (sameAsFirst.length < sampleIds.length)
      problems.push(
        `${sampleIds.length - sameAsFirst.length} resent events acknowledged before a kill were not answered duplicate with their first sequence (e.g. ${sampleIds.find((id) => !sameAsFirst.includes(id))})`,
      );
    lines.push(`answers other than 202: ${JSON.stringify(Object.fromEntries(answers))}`);
    for (const [what, count] of answers)
      if (/^(per-item )?5\d\d/.test(what) && !/^(per-item )?503 (shard_moving|storage_unavailable)$/.test(what))
        problems.push(`${count} × ${what} from ingest`);

    problems.push(...(await checkStorage(env, ledger, source.tenantId, lines)));
    problems.push(...(await checkOrder(env, source.tenantId, ordered.id, orderOf, lines)));
  } finally {
    stop = true;
    await publishing.catch(() => {});
    await runtime.stop();
  }
  if (problems.length) {
    const counts = new Map<string, number>();
    for (const line of launched.logs) if (/shard|slot|move|adopt|error/i.test(line)) counts.set(line, (counts.get(line) ?? 0) + 1);
    const worker = [...counts].slice(-8).map(([line, n]) => `${n} × ${line.slice(0, 400)}`);
    if (worker.length) lines.push(`Worker log lines about the move or errors (last 8 distinct):\n    ${worker.join('\n    ')}`);
  }
  return { pass: problems.length === 0, lines, problems };
}

async function checkStorage(env: FaultEnv, ledger: Ledger, tenantId: string, lines: string[]): Promise<string[]> {
  const problems: string[] = [];
  const acked = [...ledger.values()].filter((e) => e.acks.length > 0).length;
  const caughtUp = await until(async () => (await loadStored(env.database.url, tenantId)).length >= acked, 30_000, 500);
  const verdict = verifyStorage(ledger, await loadStored(env.database.url, tenantId), { ordered: true });
  lines.push(describeVerdict(verdict));
  if (!caughtUp) problems.push(`Postgres holds ${verdict.stored} events, fewer than the ${acked} acknowledged, 30 s after the load`);
  if (verdict.neverAcknowledged > 0)
    problems.push(`${verdict.neverAcknowledged} published events were never acknowledged although producers kept resending for 60 s`);
  return [...problems, ...verdict.problems];
}

/** Per ordered key: the stored `(received_at, sequence)` order and the receiver's arrivals against the publish order. */
async function checkOrder(
  env: FaultEnv,
  tenantId: string,
  subscriptionId: string,
  orderOf: Map<string, { key: string; index: number }>,
  lines: string[],
): Promise<string[]> {
  const problems: string[] = [];
  const rows = (await query(
    env.database.url,
    'SELECT ce_id, sequence::int8 AS sequence FROM events WHERE tenant_id = $1 AND type = $2 ORDER BY received_at, sequence',
    [tenantId, ORDERED_TYPE],
  )) as { ce_id: string; sequence: string }[];
  const stored = new Map<string, { last: number; shards: number[] }>();
  let outOfOrder = 0;
  for (const row of rows) {
    const at = orderOf.get(row.ce_id);
    if (!at) continue;
    const seen = stored.get(at.key) ?? { last: 0, shards: [] };
    if (at.index <= seen.last && outOfOrder++ < 3)
      problems.push(`stored order: ${at.key} #${at.index} comes after #${seen.last} in (received_at, sequence) order`);
    const shard = Math.floor(Number(row.sequence) / STRIDE);
    if (seen.shards.at(-1) !== shard) seen.shards.push(shard);
    stored.set(at.key, { last: Math.max(seen.last, at.index), shards: seen.shards });
  }
  lines.push(
    `stored (received_at, sequence) order of ${rows.length} ordered-key events: ${outOfOrder} out of publish order; the shards each key's events went to: ${[...stored].map(([key, s]) => `${key} ${s.shards.join('→')}`).join(', ')}`,
  );

  const t0 = Date.now();
  // as runtime-kill: a queue message lost in a kill waits REDRIVE_AFTER_SECONDS (20 s) plus a sweep, and a line then goes about one a second
  const settled = await until(async () => (await deliveryStates(env.database.url, tenantId)).pending === 0, 120_000, 1_000);
  const states = await deliveryStates(env.database.url, tenantId);
  if (!settled) problems.push(`${states.pending} ordered deliveries still pending 120 s after the load (e.g. ${states.pendingExamples.join('; ')})`);
  const arrivals = env.receiver.received.filter((r) => r.path === '/shard-ordered').map((r) => (JSON.parse(r.body) as { id: string }).id);
  const lastArrived = new Map<string, number>();
  let violations = 0;
  for (const id of arrivals) {
    const at = orderOf.get(id);
    if (!at) continue;
    const previous = lastArrived.get(at.key) ?? 0;
    if (at.index < previous && violations++ < 3) problems.push(`ordered subscription ${subscriptionId}: ${at.key} #${at.index} arrived after #${previous}`);
    lastArrived.set(at.key, Math.max(previous, at.index));
  }
  const arrived = new Set(arrivals);
  const missing = rows.filter((r) => !arrived.has(r.ce_id)).length;
  lines.push(
    `ordered subscription: ${rows.length} events over ${ORDERED_KEYS.length} keys, ${arrivals.length} arrivals, ${violations} per-key order violations, ${missing} never arrived; deliveries ${JSON.stringify(states.byStatus)} ${((Date.now() - t0) / 1000).toFixed(0)} s after the load`,
  );
  if (missing) problems.push(`${missing} stored ordered events never reached the receiver`);
  return problems;
}
