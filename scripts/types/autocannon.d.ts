/** The part of autocannon's API the benchmark uses (the package ships no types). */
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events';

  namespace autocannon {
    interface Options {
      url: string;
      connections?: number;
      duration?: number;
      overallRate?: number;
      timeout?: number;
      pipelining?: number;
      requests?: { setupRequest?: (request: Record<string, unknown>, context: Record<string, unknown>) => Record<string, unknown> | null }[];
    }
    interface Histogram {
      average: number;
      mean: number;
      max: number;
      min: number;
      total: number;
      p50: number;
      p99: number;
    }
    interface Result {
      duration: number;
      errors: number;
      timeouts: number;
      non2xx: number;
      requests: Histogram;
      latency: Histogram;
      statusCodeStats?: Record<string, { count: number }>;
    }
    type Instance = EventEmitter & PromiseLike<Result> & { stop(): void };
  }
  function autocannon(options: autocannon.Options): autocannon.Instance;
  export default autocannon;
}
