/**
 * `npm run bench -- --costs`: what each step of batch ingest costs per event on the one workerd
 * thread, measured step by step (stage-costs-worker.ts) instead of inferred from a profile. The load
 * cases show the sum; this shows the parts, and so how far a single thread can go: the best second of
 * batch ingest can be no faster than one event's pipeline + call + append, while a flush of the same
 * events (encode + drop, and the Postgres driver, not measured here) shares the thread. `validate` and
 * `hash` are parts of `pipeline`, measured alone to show its largest pieces.
 *
 * Each round prepares 20 batches of 1,000 fresh events (the bench's ~330-byte order event), then times
 * each step over all of them; a step's cost is its round trip minus an empty one. The median of the
 * rounds is reported. The object's SQLite lives on disk, as the runtime's does.
 */
import { build } from 'esbuild';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeEvent } from '../lib/switchyard-api.ts';
import type { Runtime } from '../lib/runtime.ts';
import { ONE_CALLS, type Step } from './stage-steps.ts';

const BATCHES = 20;
const EVENTS = 1000;
const ROUNDS = 5;
const TIMED: Exclude<Step, 'prepare' | 'count'>[] = [
  'empty',
  'pipeline',
  'validate',
  'hash',
  'call',
  'call-one',
  'call-one-packed',
  'append',
  'encode',
  'drop',
];

export interface StageCosts {
  /** Microseconds per event, median of the rounds, by step. */
  perEvent: Record<Exclude<Step, 'empty' | 'prepare' | 'count'>, number>;
  /** Every round's figure, by step, for the spread. */
  rounds: Record<string, number[]>;
  /** 10^6 ÷ (pipeline + call + append): events/s one thread could accept doing nothing else. */
  acceptCeiling: number;
  /** 10^6 ÷ (all steps): the same while every accepted event is also flushed (without the driver's own cost). */
  flushedCeiling: number;
}

/** Bundles the step Worker into `outdir` (esbuild; not part of the deploy bundle). */
export async function bundleStageCosts(root: string, outdir: string): Promise<string> {
  const script = join(outdir, 'stage-costs.js');
  await build({
    entryPoints: [join(root, 'scripts/bench/stage-costs-worker.ts')],
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    external: ['cloudflare:workers', 'node:*'],
    outfile: script,
    logLevel: 'silent',
  });
  return script;
}

export async function measureStageCosts(runtime: Runtime, log: (line: string) => void): Promise<StageCosts> {
  const call = async (step: Step, bodies?: string[]): Promise<number> => {
    const started = performance.now();
    const response = await fetch(runtime.url, { method: 'POST', body: JSON.stringify({ step, bodies }) });
    if (!response.ok) throw new Error(`stage ${step}: ${response.status} ${await response.text()}`);
    await response.json();
    return performance.now() - started;
  };
  const rounds: Record<string, number[]> = Object.fromEntries(TIMED.map((s) => [s, []]));
  let next = 0;
  // one unmeasured round first: the JIT and the object's first start
  for (let round = 0; round <= ROUNDS; round++) {
    const bodies = Array.from({ length: BATCHES }, () => JSON.stringify(Array.from({ length: EVENTS }, () => makeEvent(`costs-${next}`, next++))));
    await call('prepare', bodies);
    const ms: Partial<Record<(typeof TIMED)[number], number>> = {};
    // one after another: two steps at once would share the thread they are measured on
    for (const step of TIMED) ms[step] = await call(step);
    if (round === 0) continue;
    for (const step of TIMED)
      if (step !== 'empty') rounds[step]!.push(((ms[step]! - ms.empty!) * 1000) / (step.startsWith('call-one') ? ONE_CALLS : BATCHES * EVENTS));
    rounds.empty!.push(ms.empty!);
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const round2 = (x: number) => Math.round(x * 100) / 100;
  const perEvent = {
    pipeline: round2(median(rounds.pipeline!)),
    validate: round2(median(rounds.validate!)),
    hash: round2(median(rounds.hash!)),
    call: round2(median(rounds.call!)),
    'call-one': round2(median(rounds['call-one']!)),
    'call-one-packed': round2(median(rounds['call-one-packed']!)),
    append: round2(median(rounds.append!)),
    encode: round2(median(rounds.encode!)),
    drop: round2(median(rounds.drop!)),
  };
  const accept = perEvent.pipeline + perEvent.call + perEvent.append;
  const costs: StageCosts = {
    perEvent,
    rounds,
    acceptCeiling: Math.round(1e6 / accept),
    flushedCeiling: Math.round(1e6 / (accept + perEvent.encode + perEvent.drop)),
  };
  for (const [step, us] of Object.entries(perEvent))
    log(`bench: ${step.padEnd(8)} ${us.toFixed(2).padStart(6)} µs/event (rounds: ${rounds[step]!.map((x) => x.toFixed(2)).join(', ')})`);
  log(`bench: one thread's ceiling: ${costs.acceptCeiling} events/s accepted doing nothing else; ${costs.flushedCeiling} events/s with each flushed`);
  return costs;
}

export function stageCostsMarkdown(costs: StageCosts, header: string): string {
  const p = costs.perEvent;
  const rows: [string, string, number][] = [
    [
      'pipeline',
      "acceptIngest of a signed 1,000-event request, the Worker's whole side: the Standard Webhooks signature, the envelope, hashes, the tenant's rules (none), the results; the log answers at once",
      p.pipeline,
    ],
    ['validate', 'of which readEnvelope of a 1,000-event batch body: JSON parse, the CloudEvent schema (zod), storability checks', p.validate],
    ['hash', 'of which sha256Hex of each event (crypto.subtle), as ingest computes them for dedup', p.hash],
    [
      'call',
      'the Worker → Durable Object RPC of an append as ingest sends it (appendPacked: columns both ways), 1,000 items there, 1,000 results back, nothing written',
      p.call,
    ],
    [
      'call-one',
      `per call, of ${ONE_CALLS}: the RPC of a single-event append as ingest sends it (appendOne: positional values there, JSON text back), nothing written`,
      p['call-one'],
    ],
    ['call-one-packed', 'per call: the same one-item append sent as a packed one (appendPacked: columns both ways), for comparison', p['call-one-packed']],
    ['append', 'appendToOutbox in one transaction: dedup lookup, outbox rows, dedup keys, subject heads', p.append],
    ['encode', "encodeOutbox of the oldest 1,000 rows: the flush's batch JSON for Postgres", p.encode],
    ['drop', 'dropFlushed of 1,000 rows in one transaction, as the flush ends', p.drop],
  ];
  return [
    header,
    '',
    `Each step of batch ingest run alone inside workerd, ${BATCHES} batches of ${EVENTS} events per round, median of ${ROUNDS} rounds (scripts/bench/stage-costs.ts). Not measured here: HTTP (reading a 330 KB body, writing the answer), the group commit's wait for durability and SQLite's commit, and the Postgres driver's share of a flush.`,
    '',
    '| step | what | µs per event | rounds |',
    '|---|---|---:|---|',
    ...rows.map(([step, what, us]) => `| ${step} | ${what} | ${us.toFixed(2)} | ${costs.rounds[step]!.map((x) => x.toFixed(2)).join(', ')} |`),
    '',
    `One thread doing nothing but pipeline + call + append accepts at most **${costs.acceptCeiling} events/s**; with every accepted event also encoded and dropped by a flush, **${costs.flushedCeiling} events/s**.`,
    '',
  ].join('\n');
}

export async function writeStageCosts(path: string, costs: StageCosts, header: string): Promise<void> {
  await writeFile(path, stageCostsMarkdown(costs, header));
}
