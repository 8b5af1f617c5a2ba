/**
 * CPU profile of the Worker's isolate inside workerd, over the DevTools protocol of workerd's
 * inspector (Miniflare's `inspectorPort`; the isolate is `/core:user:<worker name>`). The summary
 * gives self and inclusive shares per function, named as in the source (the bundle is minified; the
 * source map gives the names back).
 *
 * Shares count samples; they are not weighted by the time since the previous sample. On this 2-core
 * machine, under load, the sampler thread often goes unscheduled for milliseconds (Postgres and the
 * load generator want the other core), and the sample after such a gap would carry the whole gap: in
 * one batch-1000 profile 63 % of the weighted time sat in samples after gaps over 5 ms, which put the
 * Neon driver's RowDescription parsing at 3.9 % and the outbox delete at 10 %, against 0.4 % and 4 %
 * by count. Each sample stands for one tick the isolate's thread was seen running; the gaps are
 * reported on their own (`stalledPct`).
 */
import { writeFile } from 'node:fs/promises';
import { WebSocket } from 'ws';
import type { Lookup } from './source-map.ts';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileLine {
  function: string;
  where: string;
  selfPct: number;
  totalPct: number;
}

export interface Profiler {
  /** `sourceMap` names source files and lines instead of bundle positions. */
  stop(savePath?: string, sourceMap?: Lookup | null): Promise<ProfileSummary>;
}

export interface ProfileSummary {
  top: ProfileLine[];
  byInclusive: ProfileLine[];
  samples: number;
  /** The share of the profile's wall time spent in gaps between samples longer than {@link STALL_US}: not attributed to any function. */
  stalledPct: number;
}

const SAMPLING_INTERVAL_US = 200;
/** A gap between two samples longer than this is a stall of the sampler, not the isolate's work. */
const STALL_US = 25 * SAMPLING_INTERVAL_US;

export async function startProfiler(inspectorPort: number, worker: string): Promise<Profiler> {
  const ws = new WebSocket(`ws://127.0.0.1:${inspectorPort}/core:user:${worker}`);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  let nextId = 0;
  const pending = new Map<number, (result: unknown) => void>();
  ws.on('message', (data) => {
    const message = JSON.parse(String(data)) as { id?: number; result?: unknown };
    if (message.id !== undefined) pending.get(message.id)?.(message.result);
  });
  const call = <T>(method: string, params: Record<string, unknown> = {}) =>
    new Promise<T>((resolve) => {
      const id = ++nextId;
      pending.set(id, resolve as (r: unknown) => void);
      ws.send(JSON.stringify({ id, method, params }));
    });
  await call('Profiler.enable');
  await call('Profiler.setSamplingInterval', { interval: SAMPLING_INTERVAL_US });
  await call('Profiler.start');
  return {
    async stop(savePath, sourceMap) {
      const { profile } = await call<{ profile: Profile }>('Profiler.stop');
      ws.close();
      if (savePath) await writeFile(savePath, JSON.stringify(profile));
      return summarize(profile, sourceMap ?? null);
    },
  };
}

function summarize(profile: Profile, sourceMap: Lookup | null): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const where = (n: ProfileNode) => {
    const { url, lineNumber, columnNumber } = n.callFrame;
    const mapped = url.endsWith('index.js') && sourceMap ? sourceMap.where(lineNumber, columnNumber) : null;
    return mapped ?? `${url.split('/').pop()}:${lineNumber + 1}`;
  };
  const name = (n: ProfileNode) => {
    const { url, lineNumber, columnNumber, functionName } = n.callFrame;
    const original = url.endsWith('index.js') && sourceMap ? sourceMap.name(lineNumber, columnNumber, functionName) : null;
    return original ?? (functionName || '(anonymous)');
  };
  // once per node: the source-map lookups scan a bundle line, and a profile has thousands of samples per node
  const keys = new Map(profile.nodes.map((n) => [n.id, `${name(n)}\t${where(n)}`]));
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  let counted = 0;
  let wall = 0;
  let stalled = 0;
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0;
    wall += delta;
    if (delta > STALL_US) stalled += delta;
    counted += 1;
    const node = byId.get(id);
    if (!node) return;
    const own = keys.get(id)!;
    self.set(own, (self.get(own) ?? 0) + 1);
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const k = keys.get(at)!;
      if (seen.has(k)) continue;
      seen.add(k);
      total.set(k, (total.get(k) ?? 0) + 1);
    }
  });
  const line = (k: string): ProfileLine => {
    const [fn = '', where = ''] = k.split('\t');
    return { function: fn, where, selfPct: pct(self.get(k) ?? 0, counted), totalPct: pct(total.get(k) ?? 0, counted) };
  };
  const top = [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 25)
    .map(([k]) => line(k));
  const byInclusive = [...total.entries()]
    .filter(([k]) => !/^\((root|program|idle|garbage collector)\)/.test(k))
    .sort((a, b) => b[1] - a[1])
    .slice(0, 40)
    .map(([k]) => line(k));
  return { top, byInclusive, samples: profile.samples.length, stalledPct: pct(stalled, wall) };
}

function pct(part: number, whole: number): number {
  return whole ? Math.round((part / whole) * 1000) / 10 : 0;
}
