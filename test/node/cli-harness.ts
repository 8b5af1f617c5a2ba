/**
 * Runs the `switchyard` CLI as a child process, as a user would (`npx switchyard …` runs the same
 * file with the same Node), with its own config directory so nothing touches the real login.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export const BIN = join(import.meta.dirname, '../../packages/cli/bin/switchyard.ts');

/** Long-running CLIs still alive when the test process exits (a test that timed out) are killed with it. */
const running = new Set<ChildProcessWithoutNullStreams>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** The environment a run sees: no stored login and no inherited SWITCHYARD_* unless given. */
export function cliEnv(env: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const base = { ...process.env };
  delete base.SWITCHYARD_URL;
  delete base.SWITCHYARD_TOKEN;
  return { ...base, NO_COLOR: '1', ...env };
}

export function runCliSync(args: string[], env: Record<string, string | undefined> = {}, input?: string): CliResult {
  const run = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: cliEnv(env), input, timeout: 60_000 });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

export function runCli(args: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: cliEnv(env) });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

export interface LongRunning {
  child: ChildProcessWithoutNullStreams;
  /** Every stdout line so far, with the time it arrived (ms, performance.now of this process). */
  lines: { text: string; at: number }[];
  stderr: string[];
  /** Resolves with the first stdout (or stderr) line matching, waiting up to `timeoutMs`. */
  waitForLine(match: (line: string) => boolean, timeoutMs?: number, stream?: 'stdout' | 'stderr'): Promise<string>;
  /** SIGINT, then the exit code. */
  interrupt(): Promise<number | null>;
}

export function startCli(args: string[], env: Record<string, string | undefined> = {}): LongRunning {
  const child = spawn(process.execPath, [BIN, ...args], { env: cliEnv(env) });
  running.add(child);
  child.on('close', () => running.delete(child));
  const lines: { text: string; at: number }[] = [];
  const stderr: string[] = [];
  const waiters = new Set<() => void>();
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  createInterface({ input: child.stdout }).on('line', (text) => {
    lines.push({ text, at: performance.now() });
    for (const w of [...waiters]) w();
  });
  createInterface({ input: child.stderr }).on('line', (text) => {
    stderr.push(text);
    for (const w of [...waiters]) w();
  });
  return {
    child,
    lines,
    stderr,
    waitForLine(match, timeoutMs = 20_000, stream = 'stdout') {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = stream === 'stdout' ? lines.find((l) => match(l.text))?.text : stderr.find(match);
          if (found === undefined) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(found);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no matching line within ${timeoutMs} ms; stdout:\n${lines.map((l) => l.text).join('\n')}\nstderr:\n${stderr.join('\n')}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    async interrupt() {
      if (child.exitCode === null) child.kill('SIGINT');
      return exited;
    },
  };
}
