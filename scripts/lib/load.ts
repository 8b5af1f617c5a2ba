/**
 * Drives HTTP load with autocannon over keep-alive connections on loopback. Requests come from a
 * caller-supplied pool of requests signed before the window opens; every response's latency is
 * recorded here (autocannon's own summary has no p95).
 */
import autocannon from 'autocannon';
import { startCpuMeter, type CpuShare } from './cpu-meter.ts';
import { percentiles } from './percentiles.ts';

export interface LoadRequest {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

export interface LoadOptions {
  url: string;
  /** Next request to send; called once per request. */
  next: () => LoadRequest;
  connections: number;
  durationSeconds: number;
  /** Requests per second over all connections; unlimited when absent. */
  overallRate?: number;
  workerdPid: number | null;
}

export interface LoadResult {
  requests: number;
  durationSeconds: number;
  requestsPerSecond: number;
  /** Requests per second of the busiest one-second sample. */
  peakRequestsPerSecond: number;
  latencyMs: { p50: number; p95: number; p99: number; max: number; mean: number };
  /** Autocannon's p99, corrected for coordinated omission when a rate was set. */
  correctedP99Ms: number;
  status: Record<string, number>;
  ok: number;
  errors: number;
  timeouts: number;
  cpu: CpuShare | null;
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const latencies: number[] = [];
  const setupRequest = (request: Record<string, unknown>) => {
    const next = options.next();
    return { ...request, method: next.method, path: next.path, headers: next.headers ?? {}, body: next.body };
  };
  const meter = startCpuMeter(options.workerdPid);
  const instance = autocannon({
    url: options.url,
    connections: options.connections,
    duration: options.durationSeconds,
    ...(options.overallRate ? { overallRate: options.overallRate } : {}),
    timeout: 30,
    requests: [{ setupRequest }],
  } as autocannon.Options);
  instance.on('response', (_client: unknown, _status: number, _bytes: number, responseTime: number) => latencies.push(responseTime));
  const result = await instance;
  const cpu = meter();
  const { p50, p95, p99, max } = percentiles(latencies);
  const status: Record<string, number> = {};
  for (const [code, { count }] of Object.entries(result.statusCodeStats ?? {})) status[code] = count;
  const ok = Object.entries(status)
    .filter(([code]) => code.startsWith('2'))
    .reduce((sum, [, n]) => sum + n, 0);
  return {
    requests: result.requests.total,
    durationSeconds: result.duration,
    requestsPerSecond: Math.round(result.requests.total / result.duration),
    peakRequestsPerSecond: result.requests.max,
    latencyMs: { p50, p95, p99, max, mean: Math.round((latencies.reduce((s, v) => s + v, 0) / Math.max(1, latencies.length)) * 100) / 100 },
    correctedP99Ms: result.latency.p99,
    status,
    ok,
    errors: result.errors,
    timeouts: result.timeouts,
    cpu,
  };
}
