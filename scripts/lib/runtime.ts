/**
 * Runs Switchyard the way the benchmark and the fault suite need it: the bundle `wrangler deploy`
 * would upload (built with `--dry-run --outdir`), served by workerd through Miniflare with the
 * bindings of wrangler.toml (SQLite Durable Object, queue + consumer + DLQ, Worker Loader), state
 * persisted on disk, in a child process group that can be SIGKILLed and started again on the same
 * state. Requests go to the Worker's own workerd socket (`unsafeDirectSockets`): no Node proxy, and
 * not even Miniflare's entry Worker, sits in front of it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ChildConfig } from './runtime-child.ts';
import { root } from './demo.ts';

const node = process.execPath;
/** Process groups of runtimes still running; killed if this process exits without stopping them. */
const live = new Set<number>();
process.on('exit', () => {
  for (const pgid of live) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});
const wranglerBin = join(root, 'node_modules/wrangler/bin/wrangler.js');

export interface Bundle {
  script: string;
  bytes: number;
}

/** `wrangler deploy --dry-run --outdir <dir>`: exactly the Worker a deploy would upload. */
export async function bundleWorker(outdir: string): Promise<Bundle> {
  await run(node, [wranglerBin, 'deploy', '--dry-run', '--outdir', outdir], { WRANGLER_SEND_METRICS: 'false' });
  const script = join(outdir, 'index.js');
  return { script, bytes: readFileSync(script).length };
}

export interface RuntimeOptions {
  kind: ChildConfig['kind'];
  script?: string;
  persistDir?: string;
  bindings?: Record<string, string>;
  /** Fixed port for the Worker socket (kept across restarts); a free one when absent. */
  port?: number;
  inspectorPort?: number;
  /** Run the Cron Trigger this often (Miniflare does not fire crons by itself). */
  cronEverySeconds?: number;
  /** Serve wrangler.toml's static assets (`/docs/`) in front of the Worker, as a deploy does. */
  assets?: boolean;
  verbose?: boolean;
  /** Receives workerd's warnings and errors. */
  onLog?: (line: string) => void;
  /** Receives each full (mark-compact) collection of the isolates, from V8's `--trace-gc` (scavenges are not traced). */
  onGc?: (gc: FullGc) => void;
}

/** One full collection as V8's `--trace-gc` prints it (heap figures in MB, as printed). */
export interface FullGc {
  /** When the line reached this process (Date.now()). */
  at: number;
  /** V8's address of the isolate: workerd runs the Worker, tenant scripts and Miniflare's own Workers in isolates of one process. */
  isolate: string;
  pauseMs: number;
  heapAfterMb: number;
}

/**
 * V8 prints `--trace-gc` lines with C stdio, which workerd's stdout (a pipe) buffers 4 KiB at a time:
 * a line would arrive seconds after its collection, in bursts. coreutils' `stdbuf` preload makes the
 * buffering per line, so a line's arrival is its collection's end. Without it (not Linux), no tracing.
 */
const STDBUF = '/usr/libexec/coreutils/libstdbuf.so';

/** Whether `onGc` can be honoured here (see STDBUF). */
export function canTraceGc(): boolean {
  return existsSync(STDBUF);
}

function gcTraceEnv(): Record<string, string> {
  if (!canTraceGc()) return {};
  return {
    MINIFLARE_WORKERD_V8_FLAGS: [process.env.MINIFLARE_WORKERD_V8_FLAGS, '--trace-gc', '--trace-gc-ignore-scavenger'].filter(Boolean).join(' '),
    LD_PRELOAD: [process.env.LD_PRELOAD, STDBUF].filter(Boolean).join(' '),
    _STDBUF_O: 'L',
  };
}

/** `[4242:0x2a1b…]  2631 ms: Mark-Compact 34.2 (45.5) -> 0.5 (15.5) MB, pooled: 29.8 MB, 113.18 / 0.00 ms …` */
export function parseFullGc(line: string, at: number): FullGc | null {
  const m = line.match(
    /\[\d+:(0x[0-9a-f]+)[^\]]*\]\s+[\d.]+ ms: Mark-Compact(?: \([a-z ]+\))? [\d.]+ \([\d.]+\) -> ([\d.]+) \([\d.]+\) MB,.*? ([\d.]+) \/ [\d.]+ ms/,
  );
  return m ? { at, isolate: m[1]!, heapAfterMb: Number(m[2]), pauseMs: Number(m[3]) } : null;
}

export interface Runtime {
  url: string;
  port: number;
  /** The Node process that owns Miniflare. */
  pid: number;
  /** workerd itself, when it can be found (Linux). */
  workerdPid: number | null;
  /** SIGTERM and wait: Miniflare disposes cleanly. */
  stop(): Promise<void>;
  /** SIGKILL to the whole group (Node and workerd), as a host crash would. */
  kill(): Promise<void>;
  options: RuntimeOptions;
}

export async function startRuntime(options: RuntimeOptions): Promise<Runtime> {
  const port = options.port ?? (await freePort());
  const config: ChildConfig = {
    kind: options.kind,
    script: options.script,
    config: join(root, 'wrangler.toml'),
    root,
    persistDir: options.persistDir,
    port,
    bindings: options.bindings ?? {},
    inspectorPort: options.inspectorPort,
    verbose: options.verbose,
    cronEverySeconds: options.cronEverySeconds,
    assets: options.assets,
  };
  const child = spawn(node, [join(import.meta.dirname, 'runtime-child.ts')], {
    cwd: root,
    // the child replaces every binding value wrangler's config reader finds (.dev.vars included) with ours
    env: {
      ...process.env,
      RUNTIME_CONFIG: JSON.stringify(config),
      WRANGLER_SEND_METRICS: 'false',
      WRANGLER_LOG: 'error',
      ...(options.onGc ? gcTraceEnv() : {}),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const log = options.onLog ?? ((line: string) => process.stderr.write(`${line}\n`));
  const { onGc } = options;
  createInterface({ input: child.stderr! }).on('line', (line) => {
    const gc = parseFullGc(line, Date.now());
    if (!gc) log(line);
    else onGc?.(gc);
  });
  live.add(child.pid!);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let url: string;
  try {
    url = await waitReady(child);
  } catch (error) {
    signal(child.pid!, 'SIGKILL');
    live.delete(child.pid!);
    throw error;
  }
  const signalGroup = (name: NodeJS.Signals) => signal(child.pid!, name);
  return {
    url,
    port,
    pid: child.pid!,
    workerdPid: findChild(child.pid!, 'workerd'),
    options: { ...options, port },
    async stop() {
      signalGroup('SIGTERM');
      await Promise.race([exited, sleep(10_000)]);
      signalGroup('SIGKILL');
      await waitGroupGone(child.pid!);
      live.delete(child.pid!);
    },
    async kill() {
      signalGroup('SIGKILL');
      await exited;
      await waitGroupGone(child.pid!);
      live.delete(child.pid!);
    },
  };
}

/** Starts the same runtime again on the same state and port (after `kill` or `stop`). */
export function restartRuntime(previous: Runtime): Promise<Runtime> {
  return startRuntime(previous.options);
}

function signal(pgid: number, name: NodeJS.Signals): void {
  try {
    process.kill(-pgid, name);
  } catch {
    // already gone
  }
}

function waitReady(child: ChildProcess, timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the runtime did not become ready in time')), timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the runtime exited before it was ready (${signal ?? `code ${code}`})`));
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (!line.startsWith('RUNTIME_READY ')) return;
      clearTimeout(timer);
      resolve((JSON.parse(line.slice('RUNTIME_READY '.length)) as { url: string }).url);
    });
  });
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** A direct child of `pid` whose command name is `name` (Linux /proc), or null. */
export function findChild(pid: number, name: string): number | null {
  try {
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      const stat = procStat(Number(entry));
      if (stat && stat.ppid === pid && stat.comm.startsWith(name)) return Number(entry);
    }
  } catch {
    // not Linux
  }
  return null;
}

/**
 * Command name, parent pid and CPU time of a process in clock ticks: its own (user + system) and
 * that of its children it has reaped (so a server's exited workers still count).
 */
export function procStat(pid: number): { comm: string; ppid: number; ticks: number; reapedTicks: number } | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = text.lastIndexOf(')');
    const comm = text.slice(text.indexOf('(') + 1, close);
    const fields = text.slice(close + 2).split(' ');
    return { comm, ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]), reapedTicks: Number(fields[13]) + Number(fields[14]) };
  } catch {
    return null;
  }
}

async function waitGroupGone(pgid: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      process.kill(-pgid, 0);
    } catch {
      return;
    }
    await sleep(50);
  }
}

function run(command: string, args: string[], env: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${args.slice(1, 3).join(' ')} failed (${code}):\n${output.slice(-2000)}`))));
  });
}
