/**
 * A deliberately unreliable HTTP proxy for client tests: it forwards to a target but, for requests a
 * seeded generator picks, drops the connection before forwarding, drops it after the target answered
 * (the request took effect, the client never hears), answers 503 or 429 (with `Retry-After`) itself,
 * replaces the target's answer with a 503, or holds the answer past the client's timeout. The
 * same seed gives the same sequence of faults. No request fails more than `maxFaultsInARow` times
 * in a row per `webhook-id`, so a client with that many retries always gets through.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export const FAULTS = ['drop_before', 'drop_after', 'status_503', 'status_429', 'replace_with_503', 'hold_after'] as const;
export type Fault = (typeof FAULTS)[number];

export interface ProxyLogEntry {
  webhookId: string;
  fault: Fault | 'pass';
  at: number;
}

export interface FlakyProxyOptions {
  target: string;
  seed: number;
  /** Share of requests that meet a fault, 0..1. */
  faultRate: number;
  maxFaultsInARow?: number;
  /** Faults that cost the client a long wait (429's Retry-After, a hold past its timeout) are rationed: at most this many of each. */
  maxSlowFaults?: number;
  retryAfterSeconds?: number;
  holdMs?: number;
}

export interface FlakyProxy {
  url: string;
  log: ProxyLogEntry[];
  close(): Promise<void>;
}

/** mulberry32: a small, seedable generator; its sequence is the same on every run and machine. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export async function startFlakyProxy(options: FlakyProxyOptions): Promise<FlakyProxy> {
  const random = seeded(options.seed);
  const maxInARow = options.maxFaultsInARow ?? 3;
  const slowLeft = new Map<Fault, number>([
    ['status_429', options.maxSlowFaults ?? 2],
    ['hold_after', options.maxSlowFaults ?? 2],
  ]);
  const inARow = new Map<string, number>();
  const log: ProxyLogEntry[] = [];
  const problem = (status: number, code: string) => JSON.stringify({ type: 'about:blank', title: code, status, code, detail: `the flaky proxy says ${code}` });

  const choose = (webhookId: string): Fault | 'pass' => {
    const roll = random();
    const pick = FAULTS[Math.floor(random() * FAULTS.length)]!;
    const slow = slowLeft.get(pick);
    if (roll >= options.faultRate || (inARow.get(webhookId) ?? 0) >= maxInARow || slow === 0) {
      inARow.delete(webhookId);
      return 'pass';
    }
    if (slow !== undefined) slowLeft.set(pick, slow - 1);
    inARow.set(webhookId, (inARow.get(webhookId) ?? 0) + 1);
    return pick;
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const webhookId = String(req.headers['webhook-id'] ?? '');
    const fault = choose(webhookId);
    log.push({ webhookId, fault, at: Date.now() });
    if (fault === 'drop_before') return void req.socket.destroy();
    if (fault === 'status_503') return void res.writeHead(503, { 'content-type': 'application/problem+json' }).end(problem(503, 'proxy_unavailable'));
    if (fault === 'status_429') {
      const headers = { 'content-type': 'application/problem+json', 'retry-after': String(options.retryAfterSeconds ?? 1) };
      return void res.writeHead(429, headers).end(problem(429, 'rate_limited'));
    }
    const headers = new Headers();
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined && !['host', 'connection', 'content-length', 'transfer-encoding'].includes(name)) headers.set(name, String(value));
    }
    const answer = await fetch(new URL(req.url ?? '/', options.target), { method: req.method, headers, body: Buffer.concat(chunks) });
    const body = await answer.text();
    if (fault === 'drop_after') return void req.socket.destroy();
    if (fault === 'replace_with_503') return void res.writeHead(503, { 'content-type': 'application/problem+json' }).end(problem(503, 'proxy_unavailable'));
    if (fault === 'hold_after') await new Promise((resolve) => setTimeout(resolve, options.holdMs ?? 3000));
    if (!res.destroyed) res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/json' }).end(body);
  }

  const server = createServer((req, res) => void handle(req, res).catch(() => res.destroy()));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    log,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
