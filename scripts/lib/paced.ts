/**
 * Open-loop load at a fixed rate with evenly spaced sends. autocannon's `overallRate` paces each
 * connection on its own timer, so its connections fire in synchronized bursts that queue behind each
 * other; and Node's fetch costs too much CPU per request to pace precisely on two cores. So this
 * writes pre-built HTTP/1.1 requests on raw keep-alive sockets (a free one, or a new one when all
 * are busy) and reads only the status line and Content-Length of each answer. Latency counts from
 * the actual send; `scheduledLatencyMs` counts from the scheduled send (no coordinated omission).
 */
import { connect } from 'node:net';
import { startCpuMeter, type CpuShare } from './cpu-meter.ts';
import type { LoadRequest } from './load.ts';
import { percentiles, type Percentiles } from './percentiles.ts';

export interface PacedResult {
  requests: number;
  ok: number;
  status: Record<string, number>;
  errors: number;
  requestsPerSecond: number;
  durationSeconds: number;
  meanMs: number;
  latencyMs: Percentiles;
  scheduledLatencyMs: Percentiles;
  /** How late sends left compared to their schedule: the generator's own lag. */
  sendLagMs: Percentiles;
  /** Sockets opened: how many requests were in flight at most. */
  connections: number;
  cpu: CpuShare | null;
}

const HEADER_END = Buffer.from('\r\n\r\n');

/** One keep-alive HTTP/1.1 connection that sends pre-built requests and reads only status and Content-Length. */
export interface HttpConnection {
  /** Resolves with the status code, or 0 when the connection failed. */
  send(request: LoadRequest): Promise<number>;
  close(): void;
}

export function openHttpConnection(url: string): Promise<HttpConnection> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port), noDelay: true });
    let buffer = Buffer.alloc(0);
    let waiting: ((status: number) => void) | null = null;
    const settle = (status: number) => {
      const done = waiting;
      waiting = null;
      done?.(status);
    };
    socket.on('data', (chunk) => {
      buffer = buffer.length ? Buffer.concat([buffer, chunk]) : chunk;
      const end = buffer.indexOf(HEADER_END);
      if (end < 0) return;
      const head = buffer.subarray(0, end).toString('latin1');
      const length = Number(head.match(/\r\ncontent-length:\s*(\d+)/i)?.[1] ?? NaN);
      if (Number.isNaN(length)) {
        socket.destroy();
        return settle(0);
      }
      if (buffer.length < end + 4 + length) return;
      buffer = buffer.subarray(end + 4 + length);
      settle(Number(head.slice(9, 12)));
    });
    socket.once('connect', () =>
      resolve({
        send(request) {
          const body = Buffer.from(request.body ?? '');
          const head = [
            `${request.method} ${request.path} HTTP/1.1`,
            `host: ${hostname}:${port}`,
            ...Object.entries(request.headers ?? {}).map(([k, v]) => `${k}: ${v}`),
            `content-length: ${body.length}`,
            '',
            '',
          ].join('\r\n');
          return new Promise<number>((done) => {
            waiting = done;
            socket.write(Buffer.concat([Buffer.from(head, 'latin1'), body]));
          });
        },
        close: () => socket.destroy(),
      }),
    );
    socket.once('error', (error) => {
      reject(error);
      settle(0);
    });
    socket.once('close', () => settle(0));
  });
}

export async function runPaced(options: {
  url: string;
  next: () => LoadRequest;
  ratePerSecond: number;
  durationSeconds: number;
  workerdPid: number | null;
}): Promise<PacedResult> {
  const idle: HttpConnection[] = [];
  const all: HttpConnection[] = [];
  const open = async () => {
    const conn = await openHttpConnection(options.url);
    all.push(conn);
    return conn;
  };

  const total = Math.round(options.ratePerSecond * options.durationSeconds);
  const interval = 1000 / options.ratePerSecond;
  const latencies: number[] = [];
  const scheduled: number[] = [];
  const lags: number[] = [];
  const status: Record<string, number> = {};
  let errors = 0;
  const inflight: Promise<void>[] = [];
  const meter = startCpuMeter(options.workerdPid);
  const start = performance.now() + 20;
  for (let i = 0; i < total; i++) {
    const due = start + i * interval;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const request = options.next();
    inflight.push(
      (async () => {
        const conn = idle.pop() ?? (await open());
        const sent = performance.now();
        lags.push(Math.max(0, sent - due));
        const code = await conn.send(request);
        const done = performance.now();
        if (code === 0) {
          errors++;
          return;
        }
        idle.push(conn);
        latencies.push(done - sent);
        scheduled.push(done - due);
        status[code] = (status[code] ?? 0) + 1;
      })().catch(() => {
        errors++;
      }),
    );
  }
  await Promise.all(inflight);
  const elapsed = (performance.now() - start) / 1000;
  const cpu = meter();
  for (const conn of all) conn.close();
  const ok = Object.entries(status)
    .filter(([code]) => code.startsWith('2'))
    .reduce((sum, [, n]) => sum + n, 0);
  const meanMs = Math.round((latencies.reduce((sum, v) => sum + v, 0) / Math.max(1, latencies.length)) * 100) / 100;
  return {
    requests: total,
    ok,
    status,
    errors,
    requestsPerSecond: Math.round(total / elapsed),
    durationSeconds: Math.round(elapsed * 100) / 100,
    meanMs,
    latencyMs: percentiles(latencies),
    scheduledLatencyMs: percentiles(scheduled),
    sendLagMs: percentiles(lags),
    connections: all.length,
    cpu,
  };
}

/**
 * Unloaded latency of two kinds of request, measured in the same window: one connection each, sent
 * alternately one at a time (A, B, A, B, ...), so both see the same machine. Returns the latencies.
 */
export async function runAlternating(options: {
  url: string;
  nextA: () => LoadRequest;
  nextB: () => LoadRequest;
  pairs: number;
}): Promise<{ a: number[]; b: number[]; statusA: Record<string, number>; statusB: Record<string, number> }> {
  const [connA, connB] = [await openHttpConnection(options.url), await openHttpConnection(options.url)];
  const a: number[] = [];
  const b: number[] = [];
  const statusA: Record<string, number> = {};
  const statusB: Record<string, number> = {};
  for (let i = 0; i < options.pairs; i++) {
    for (const [conn, next, into, status] of [
      [connA, options.nextA, a, statusA],
      [connB, options.nextB, b, statusB],
    ] as const) {
      const request = next();
      const t0 = performance.now();
      const code = await conn.send(request);
      into.push(performance.now() - t0);
      status[code] = (status[code] ?? 0) + 1;
    }
  }
  connA.close();
  connB.close();
  return { a, b, statusA, statusB };
}
