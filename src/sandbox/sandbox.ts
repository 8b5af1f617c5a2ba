/**
 * The `ScriptSandbox` the runtime lends hooks (see types.ts), built on the Worker Loader binding.
 *
 * Rules a reader would not guess:
 * - An isolate's id is `script:v<guard>:<tenant>:<sha256 of the instrumented module>`, so identical
 *   source in two tenants runs in two isolates, and a changed script or guard gets a fresh one.
 * - Every isolate loads with `globalOutbound: null` and no bindings. An action's egress binding is
 *   passed with each call (an RPC argument), so its allow-list is the one of that call's instance.
 * - `limits.cpuMs` is what production enforces; workerd ignores it, and the instrumentation (see
 *   instrument.ts) stands in locally, with a V8 flag for backtracking regular expressions
 *   (local-v8-flags.ts). Memory is capped by the platform (128 MB per isolate); locally only single
 *   bulk allocations are refused (allocation.ts).
 * - Production allows a request 4 distinct Dynamic Workers with calls in flight; a provider (one per
 *   request or queue batch) holds a further distinct script back until a slot frees.
 */
import { sha256Hex } from '../lib/encoding';
import type { ScriptCallOptions, ScriptFunction, ScriptInspection, ScriptProblem, ScriptSandbox } from '../plugins/types';
import type { EgressProps } from './egress';
import { instrument, positionOf, ScriptSyntaxError, type Instrumented, type Position } from './instrument';
import { GUARD_MODULE, GUARD_VERSION, PARSE_CHECK_MODULES, PARSED_MARKER, WRAPPER_MODULE } from './modules';

export const SCRIPT_COMPATIBILITY_DATE = '2026-11-01';
/** CPU per call: enforced by Cloudflare in production, by the guard's clock locally. */
export const SCRIPT_CPU_MS = 100;
/** Largest result a script may return, in characters of JSON. */
export const SCRIPT_RESULT_LIMIT_CHARS = 1024 * 1024;
/** Wall clock for loading and inspecting a module at registration. */
export const SCRIPT_LOAD_TIMEOUT_MS = 5_000;
const MAX_DISTINCT_IN_FLIGHT = 4;
const PREPARED_CACHE_SIZE = 128;

export type EgressFactory = (props: EgressProps) => Fetcher;
export type SandboxProvider = (tenantId: string) => ScriptSandbox;

interface Prepared {
  hash: string;
  instrumented: Instrumented;
}

type Reply = { ok: true; json?: string } | { ok: false; error: string };

interface ScriptStub {
  exportsOf(): Promise<Record<ScriptFunction, string>>;
  call(fn: ScriptFunction, args: readonly unknown[], budgetMs: number, limitChars: number, egress?: Fetcher): Promise<Reply>;
}

/** Sandboxes per tenant for one request or batch, or `undefined` when the binding is missing. */
export function createSandboxes(loader: WorkerLoader | undefined, egress?: EgressFactory): SandboxProvider | undefined {
  if (!loader) return undefined;
  const gate = distinctGate(MAX_DISTINCT_IN_FLIGHT);
  return (tenantId) => ({
    inspect: (source) => inspect(loader, tenantId, source),
    async call(source, fn, args, options = {}) {
      const prepared = await prepare(source);
      const id = isolateId(tenantId, prepared);
      const hosts = options.allowedHosts ?? [];
      const egressStub = fn === 'handle' && egress && hosts.length > 0 ? egress({ tenantId, allowedHosts: [...hosts] }) : undefined;
      const reply = await gate(id, () =>
        bounded(stubOf(loader, id, prepared).call(fn, args, SCRIPT_CPU_MS, SCRIPT_RESULT_LIMIT_CHARS, egressStub), options, 'the script'),
      );
      return readReply(reply);
    },
  });
}

async function inspect(loader: WorkerLoader, tenantId: string, source: string): Promise<ScriptInspection> {
  const parseProblem = await parseCheck(loader, source);
  if (parseProblem) return { ok: false, stage: 'parse', problem: parseProblem };
  let prepared: Prepared;
  try {
    prepared = await prepare(source);
  } catch (error) {
    if (!(error instanceof ScriptSyntaxError)) throw error;
    return { ok: false, stage: 'parse', problem: { pointer: '', detail: `SyntaxError: ${error.message}`, ...positionOf(source, error.offset) } };
  }
  try {
    const exports = await bounded(stubOf(loader, isolateId(tenantId, prepared), prepared).exportsOf(), { timeoutMs: SCRIPT_LOAD_TIMEOUT_MS }, 'the module');
    return { ok: true, exports };
  } catch (error) {
    return { ok: false, stage: 'load', problem: loadProblem(error, (p) => prepared.instrumented.toOriginal(p)) };
  }
}

/** Links the raw source in a throwaway isolate without evaluating it; a problem, or null when it parsed. */
async function parseCheck(loader: WorkerLoader, source: string): Promise<ScriptProblem | null> {
  const worker = loader.load({
    compatibilityDate: SCRIPT_COMPATIBILITY_DATE,
    mainModule: 'check.js',
    modules: { ...PARSE_CHECK_MODULES, 'tenant.js': source },
    globalOutbound: null,
  });
  try {
    await bounded(worker.getEntrypoint().fetch('http://check.invalid/'), { timeoutMs: SCRIPT_LOAD_TIMEOUT_MS }, 'the parser');
  } catch (error) {
    // a compile error's position comes from v8::Message, whose columns count from 0 (stack frames count from 1)
    return String(error).includes(PARSED_MARKER) ? null : loadProblem(error, (p) => ({ line: p.line, column: p.column + 1 }));
  }
  return { pointer: '', detail: 'the module could not be checked' };
}

/** "Failed to start Worker:\nUncaught SyntaxError: …\n  at tenant.js:3:2" as a problem with a position. */
function loadProblem(error: unknown, toOriginal: (p: Position) => Position): ScriptProblem {
  const text = (error instanceof Error ? error.message : String(error)).replace(/^Failed to start Worker:\s*/, '');
  const at = /\bat tenant\.js:(\d+):(\d+)/.exec(text);
  const lines = text.split('\n');
  const stackStart = lines.findIndex((line) => /^\s*at /.test(line));
  const detail = (stackStart === -1 ? lines : lines.slice(0, stackStart))
    .map((line) => line.trim())
    .join(' ')
    .replace(/^Uncaught (?:\(in promise\) )?/, '')
    .slice(0, 500);
  return { pointer: '', detail, ...(at ? toOriginal({ line: Number(at[1]), column: Number(at[2]) }) : {}) };
}

const prepared = new Map<string, Promise<Prepared>>();

/** Instruments and hashes a source once per isolate (bounded LRU); throws `ScriptSyntaxError`. */
function prepare(source: string): Promise<Prepared> {
  const hit = prepared.get(source);
  if (hit) {
    prepared.delete(source);
    prepared.set(source, hit);
    return hit;
  }
  const instrumented = instrument(source);
  const value = sha256Hex(instrumented.code).then((hash) => ({ hash, instrumented }));
  if (prepared.size >= PREPARED_CACHE_SIZE) prepared.delete(prepared.keys().next().value!);
  prepared.set(source, value);
  return value;
}

function isolateId(tenantId: string, { hash }: Prepared): string {
  return `script:v${GUARD_VERSION}:${tenantId}:${hash}`;
}

function stubOf(loader: WorkerLoader, id: string, { instrumented }: Prepared): ScriptStub {
  const worker = loader.get(id, () => ({
    compatibilityDate: SCRIPT_COMPATIBILITY_DATE,
    mainModule: 'wrapper.js',
    modules: { 'wrapper.js': WRAPPER_MODULE, 'guard.js': GUARD_MODULE, 'tenant.js': instrumented.code },
    globalOutbound: null,
    env: {},
    limits: { cpuMs: SCRIPT_CPU_MS },
  }));
  return worker.getEntrypoint() as unknown as ScriptStub;
}

function readReply(reply: unknown): unknown {
  if (!reply || typeof reply !== 'object' || typeof (reply as Reply).ok !== 'boolean') throw new Error('the script sandbox answered something unexpected');
  const r = reply as Reply;
  if (!r.ok) throw new Error(String(r.error).slice(0, 1000));
  if (r.json === undefined) return undefined;
  if (typeof r.json !== 'string' || r.json.length > SCRIPT_RESULT_LIMIT_CHARS) throw new Error('the script returned an oversized or malformed result');
  return JSON.parse(r.json);
}

/** Rejects when `timeoutMs` passes or `signal` aborts first. */
function bounded<T>(work: Promise<T>, { signal, timeoutMs }: Pick<ScriptCallOptions, 'signal' | 'timeoutMs'>, what: string): Promise<T> {
  if (!signal && timeoutMs === undefined) return work;
  return new Promise<T>((resolve, reject) => {
    const timer =
      timeoutMs === undefined ? undefined : setTimeout(() => finish(() => reject(new Error(`${what} did not answer within ${timeoutMs} ms`))), timeoutMs);
    const onAbort = () => finish(() => reject(new Error(`${what} was cut off: ${String(signal?.reason ?? 'aborted')}`)));
    const finish = (settle: () => void) => {
      clearTimeout(timer ?? null);
      signal?.removeEventListener('abort', onAbort);
      settle();
    };
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => finish(() => resolve(value)),
      (error: unknown) => finish(() => reject(error)),
    );
  });
}

/** Runs `work` once fewer than `max` other ids have calls in flight (calls of a running id pass). */
function distinctGate(max: number) {
  const active = new Map<string, number>();
  let waiting: (() => void)[] = [];
  return async function gate<T>(id: string, work: () => Promise<T>): Promise<T> {
    while (!active.has(id) && active.size >= max) await new Promise<void>((wake) => waiting.push(wake));
    active.set(id, (active.get(id) ?? 0) + 1);
    try {
      return await work();
    } finally {
      const left = active.get(id)! - 1;
      if (left === 0) active.delete(id);
      else active.set(id, left);
      const wake = waiting;
      waiting = [];
      for (const w of wake) w();
    }
  };
}
