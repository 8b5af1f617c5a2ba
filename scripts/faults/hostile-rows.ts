/**
 * (f) Events storage cannot take, sent in between a steady stream of normal ones.
 *
 * `deep-nesting`: signed events whose `data` nests 100,000 (arrays) or 10,000 (objects) deep, or 65
 * levels inside a batch, or a deep binary-mode body, must be refused at the door (422
 * `event_too_deep`, never 202, never 5xx), and every normal event acknowledged around them stored.
 *
 * `poison-row`: since the door refuses what Postgres is known to refuse, a poison row cannot be sent
 * from outside any more; the harness's hook is the scratch database itself: a CHECK constraint on
 * `events` makes Postgres refuse every event whose id starts with `poison-` (SQLSTATE 23514), as it
 * refused deep nesting before the door's limit. Those events pass the door and are acknowledged; each
 * must end in the quarantine (`GET …/quarantine`, with the acknowledged sequence), and every other
 * acknowledged event must be stored, the tenant never blocked.
 */
import { join } from 'node:path';
import { query } from '../lib/postgres.ts';
import { signatureHeaders } from '../lib/standard-webhooks.ts';
import { createSource, makeEvent, send, signedIngest, type Api, type SignedRequest, type Source } from '../lib/switchyard-api.ts';
import { launch, sleep, until, type FaultEnv, type ScenarioOutcome, FAULT_SHARDS } from './harness.ts';
import { createLedger, describeVerdict, loadQuarantined, loadStored, recordAnswer, verifyStorage, type Ledger } from './ledger.ts';
import { runPublishers } from './publishers.ts';

const RUN_MS = 6_000;
const nested = (depth: number, open = '[', close = ']', inner = '1') => `${open.repeat(depth)}${inner}${close.repeat(depth)}`;

/** A signed structured (or batch) request whose body is built as text, so the deep part is never a JS value. */
function rawIngest(source: Source, ids: string[], body: string, mode: 'single' | 'batch'): SignedRequest {
  const messageId = `msg_${ids[0]}_${ids.length}`;
  const type = mode === 'single' ? 'application/cloudevents+json' : 'application/cloudevents-batch+json';
  return {
    method: 'POST',
    path: `/v1/ingest/${source.sourceId}`,
    headers: { 'content-type': type, ...signatureHeaders(source.secret, messageId, body) },
    body,
    ids,
  };
}

const eventText = (id: string, data: string) =>
  `{"specversion":"1.0","id":"${id}","source":"https://shop.example.com/orders","type":"orders.created","data":${data}}`;

/** Answers with a 5xx or none at all, and refusals with another code than `event_too_deep`, per deep id. */
function checkDeepAnswer(request: SignedRequest, deep: Set<string>, status: number, json: unknown, problems: string[]): void {
  if (status === 0 || status >= 500) {
    problems.push(`${request.ids.join(',')}: answered ${status || 'nothing'}`);
    return;
  }
  const results = (json as { results?: { status: number; code?: string }[] }).results;
  request.ids.forEach((id, i) => {
    if (!deep.has(id)) return;
    const item = results ? results[i] : { status, code: (json as { code?: string }).code };
    if (item?.status !== 422 || item.code !== 'event_too_deep')
      problems.push(`${id}: deep event answered ${item?.status} ${item?.code ?? ''} instead of 422 event_too_deep`);
  });
}

async function steadyLoad(base: string, source: Source, ledger: Ledger, label: string, done: () => boolean) {
  return runPublishers({ ledger, base: () => base, source, label, singles: 2, batches: { clients: 1, size: 10 }, pauseMs: 20, done });
}

async function settle(env: FaultEnv, ledger: Ledger, tenantId: string, withQuarantine: boolean) {
  const acked = [...ledger.values()].filter((e) => e.acks.length > 0).length;
  const count = async () =>
    (await loadStored(env.database.url, tenantId)).length + (withQuarantine ? (await loadQuarantined(env.database.url, tenantId)).size : 0);
  const caughtUp = await until(async () => (await count()) >= acked, 60_000, 500);
  return { acked, caughtUp };
}

export async function deepNesting(env: FaultEnv): Promise<ScenarioOutcome> {
  const lines: string[] = [];
  const problems: string[] = [];
  const { runtime, api, logs } = await launch(env, { stateDir: join(env.work, 'state-deep') });
  try {
    const source = await createSource(api, 'faults deep nesting', { shards: FAULT_SHARDS });
    const ledger = createLedger();
    const tag = Date.now().toString(36);
    let stop = false;
    const publishing = steadyLoad(runtime.url, source, ledger, `deep-normal-${tag}`, () => stop);
    const deep = new Set<string>();
    const refuseMs: number[] = [];
    let n = 0;
    const endAt = Date.now() + RUN_MS;
    while (Date.now() < endAt) {
      const id = `deep-${tag}-${++n}`;
      deep.add(id);
      let request: SignedRequest;
      switch (n % 4) {
        case 0:
          request = rawIngest(source, [id], eventText(id, nested(100_000)), 'single');
          break;
        case 1:
          request = rawIngest(source, [id], eventText(id, nested(10_000, '{"a":', '}')), 'single');
          break;
        case 2: {
          const [a, b] = [`deep-ok-${tag}-${n}a`, `deep-ok-${tag}-${n}b`];
          const body = `[${JSON.stringify(makeEvent(a, n))},${eventText(id, nested(65))},${JSON.stringify(makeEvent(b, n))}]`;
          request = rawIngest(source, [a, id, b], body, 'batch');
          break;
        }
        default: {
          const body = nested(100_000);
          request = {
            method: 'POST',
            path: `/v1/ingest/${source.sourceId}`,
            ids: [id],
            body,
            headers: {
              'content-type': 'application/json',
              'ce-specversion': '1.0',
              'ce-id': id,
              'ce-source': '/faults',
              'ce-type': 'orders.created',
              ...signatureHeaders(source.secret, id, body),
            },
          };
        }
      }
      const started = Date.now();
      const answer = await send(runtime.url, request, 10_000);
      if (n % 4 === 0) refuseMs.push(Date.now() - started);
      recordAnswer(ledger, request, answer.status, answer.json);
      checkDeepAnswer(request, deep, answer.status, answer.json, problems);
      await sleep(50);
    }
    stop = true;
    await publishing;
    const acknowledgedDeep = [...deep].filter((id) => (ledger.get(id)?.acks.length ?? 0) > 0);
    if (acknowledgedDeep.length) problems.push(`${acknowledgedDeep.length} deep events were acknowledged (e.g. ${acknowledgedDeep[0]})`);
    const { acked, caughtUp } = await settle(env, ledger, source.tenantId, false);
    const rows = await loadStored(env.database.url, source.tenantId);
    const verdict = verifyStorage(ledger, rows, { ordered: true });
    refuseMs.sort((a, b) => a - b);
    lines.push(
      `${deep.size} deep events sent (100,000-deep arrays, 10,000-deep objects, 65 levels in a batch, binary mode): ${deep.size - acknowledgedDeep.length} refused 422; a 100,000-deep single took ${refuseMs[Math.floor(refuseMs.length / 2)] ?? '-'} ms (p50), ${refuseMs.at(-1) ?? '-'} ms (max) to refuse`,
    );
    lines.push(describeVerdict(verdict));
    if (!caughtUp) problems.push(`Postgres holds ${rows.length} events, fewer than the ${acked} acknowledged, 60 s after the load`);
    problems.push(...verdict.problems);
    const after = await send(runtime.url, signedIngest(source, [makeEvent(`deep-after-${tag}`, 0)], 'single'));
    if (after.status !== 202) problems.push(`a normal event after the run answered ${after.status}`);
    if (problems.length) lines.push(...logs.slice(-5).map((l) => `worker log: ${l.slice(0, 300)}`));
  } finally {
    await runtime.stop();
  }
  return { pass: problems.length === 0, lines, problems };
}

/** Every page of `GET …/quarantine`, as the operator sees it. */
async function listQuarantine(api: Api, tenantId: string): Promise<{ sequence: number; ce_id: string; sqlstate: string | null }[]> {
  const all: { sequence: number; ce_id: string; sqlstate: string | null }[] = [];
  let cursor: string | null = null;
  do {
    const page: { data: { sequence: number; ce_id: string; sqlstate: string | null }[]; next_cursor: string | null } = await api.must(
      'GET',
      `/v1/tenants/${tenantId}/quarantine?limit=100${cursor ? `&cursor=${cursor}` : ''}`,
    );
    all.push(...page.data);
    cursor = page.next_cursor;
  } while (cursor);
  return all;
}

export async function poisonRow(env: FaultEnv): Promise<ScenarioOutcome> {
  const lines: string[] = [];
  const problems: string[] = [];
  const constraint = `faults_poison_row_${Date.now().toString(36)}`;
  await query(env.database.url, `ALTER TABLE events ADD CONSTRAINT ${constraint} CHECK (ce_id NOT LIKE 'poison-%')`);
  const { runtime, api, logs } = await launch(env, { stateDir: join(env.work, 'state-poison') });
  try {
    const source = await createSource(api, 'faults poison row', { shards: FAULT_SHARDS });
    const ledger = createLedger();
    const tag = Date.now().toString(36);
    let stop = false;
    const publishing = steadyLoad(runtime.url, source, ledger, `steady-${tag}`, () => stop);
    const poison = new Set<string>();
    let n = 0;
    const endAt = Date.now() + RUN_MS;
    while (Date.now() < endAt) {
      const id = `poison-${tag}-${++n}`;
      poison.add(id);
      const request =
        n % 2
          ? signedIngest(source, [makeEvent(id, n)], 'single')
          : signedIngest(source, [makeEvent(`fine-${tag}-${n}a`, n), makeEvent(id, n), makeEvent(`fine-${tag}-${n}b`, n)], 'batch');
      const answer = await send(runtime.url, request, 10_000);
      recordAnswer(ledger, request, answer.status, answer.json);
      if (answer.status !== 202) problems.push(`${request.ids.join(',')}: answered ${answer.status} (the door has no reason to refuse these)`);
      await sleep(150);
    }
    stop = true;
    await publishing;
    const { acked, caughtUp } = await settle(env, ledger, source.tenantId, true);
    const rows = await loadStored(env.database.url, source.tenantId);
    const quarantined = await loadQuarantined(env.database.url, source.tenantId);
    const verdict = verifyStorage(ledger, rows, { ordered: true, quarantined });
    lines.push(describeVerdict(verdict));
    if (!caughtUp)
      problems.push(`Postgres holds ${rows.length} events and ${quarantined.size} quarantined, fewer than the ${acked} acknowledged, 60 s after the load`);
    problems.push(...verdict.problems);
    const ackedPoison = [...poison].filter((id) => (ledger.get(id)?.acks.length ?? 0) > 0);
    const missing = ackedPoison.filter((id) => quarantined.get(id)?.sqlstate !== '23514');
    if (missing.length) problems.push(`${missing.length} acknowledged poison events are not quarantined with SQLSTATE 23514 (e.g. ${missing[0]})`);
    const innocent = [...quarantined.keys()].filter((id) => !poison.has(id));
    if (innocent.length) problems.push(`${innocent.length} normal events were quarantined (e.g. ${innocent[0]})`);
    const listed = await listQuarantine(api, source.tenantId);
    const listedIds = new Set(listed.map((q) => q.ce_id));
    if (listed.length !== quarantined.size || [...quarantined.keys()].some((id) => !listedIds.has(id)))
      problems.push(`GET …/quarantine lists ${listed.length} events, the table holds ${quarantined.size}`);
    const metrics = await api.must<{ events: { quarantined: number } }>('GET', `/v1/tenants/${source.tenantId}/metrics?window=1h`);
    if (metrics.events.quarantined !== quarantined.size)
      problems.push(`metrics count ${metrics.events.quarantined} quarantined, the table holds ${quarantined.size}`);
    const flagged = logs.filter((l) => l.includes('event quarantined')).length;
    lines.push(
      `${ackedPoison.length} poison events acknowledged, ${quarantined.size} quarantined (listed by GET …/quarantine: ${listed.length}; in metrics: ${metrics.events.quarantined}; logged: ${flagged}); ${rows.length} other events stored`,
    );
    if (problems.length) lines.push(...logs.slice(-5).map((l) => `worker log: ${l.slice(0, 300)}`));
  } finally {
    await runtime.stop();
    await query(env.database.url, `ALTER TABLE events DROP CONSTRAINT IF EXISTS ${constraint}`);
  }
  return { pass: problems.length === 0, lines, problems };
}
