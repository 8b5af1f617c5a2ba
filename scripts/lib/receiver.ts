/**
 * A local webhook receiver for tests and benchmarks (Node side). It records every request, answers
 * from a script per path, and checks Standard Webhooks signatures when a key is registered for the
 * path: `whsec_…` with the official `standardwebhooks` package (v1), `whpk_…` with node:crypto (v1a,
 * which that package does not verify).
 *
 * Tests inside workerd cannot call these functions, so the same controls are served as JSON under
 * `/_control/` on the same port (requests there are never recorded):
 *   POST /_control/behaviour  {path, responses?, default?, secret?}            -> 204
 *   GET  /_control/received?path=/hook                                         -> {received: [...]}
 *   GET  /_control/wait?path=/hook&count=3&timeout_ms=5000  -> 200, or 408 when too few arrived in time
 *   POST /_control/reset      forget all behaviours and requests               -> 204
 * A path without a behaviour answers 200 with an empty body.
 */
import { createPublicKey, verify as verifySignature } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { Webhook } from 'standardwebhooks';
import { z } from 'zod';
import { flatHeaders, listen, parseJson, readBody } from './http-util.ts';

const TOLERANCE_SECONDS = 5 * 60;

const scriptedResponse = z.object({
  status: z.int().min(100).max(599).default(200),
  headers: z.record(z.string(), z.string()).optional(),
  body: z.string().optional(),
  delayMs: z.int().min(0).max(120_000).optional(),
  /** Destroys the connection with a TCP reset instead of answering. */
  reset: z.literal(true).optional(),
});
const behaviourSchema = z.object({
  path: z.string().startsWith('/'),
  /** Answers used once each, in order, before `default` takes over. */
  responses: z.array(scriptedResponse).default([]),
  default: scriptedResponse.optional(),
  secret: z.string().optional(),
});

export type ScriptedResponse = z.input<typeof scriptedResponse>;
export type Behaviour = Omit<z.input<typeof behaviourSchema>, 'path'>;

export interface ReceivedRequest {
  path: string;
  method: string;
  query: string;
  headers: Record<string, string>;
  body: string;
  /** Whether the signature checked out; null when no key is registered for the path. */
  verified: boolean | null;
  /** Unix milliseconds when the request arrived. */
  at: number;
}

export interface Receiver {
  url: string;
  port: number;
  received: ReceivedRequest[];
  setBehaviour(path: string, behaviour: Behaviour): void;
  /** Resolves with the path's requests once `count` have arrived; rejects after `timeoutMs`. */
  waitFor(path: string, count: number, timeoutMs?: number): Promise<ReceivedRequest[]>;
  reset(): void;
  close(): Promise<void>;
}

export async function startReceiver(options: { port?: number; host?: string } = {}): Promise<Receiver> {
  const host = options.host ?? '127.0.0.1';
  const behaviours = new Map<string, z.output<typeof behaviourSchema>>();
  const received: ReceivedRequest[] = [];
  const waiters = new Set<() => void>();

  const setBehaviour = (path: string, behaviour: Behaviour) => {
    behaviours.set(path, behaviourSchema.parse({ ...behaviour, path }));
  };
  const forPath = (path: string | null) => received.filter((request) => path === null || request.path === path);
  const waitFor = (path: string, count: number, timeoutMs = 10_000) =>
    new Promise<ReceivedRequest[]>((resolve, reject) => {
      const check = () => {
        if (forPath(path).length < count) return;
        clearTimeout(timer);
        waiters.delete(check);
        resolve(forPath(path));
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`${forPath(path).length} of ${count} requests to ${path} arrived within ${timeoutMs} ms`));
      }, timeoutMs);
      waiters.add(check);
      check();
    });
  const reset = () => {
    behaviours.clear();
    received.length = 0;
  };

  // A client that hangs up mid-request must not take the receiver down with an unhandled rejection.
  const server = createServer((req, res) => void handle(req, res).catch(() => res.destroy()));

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://receiver');
    const body = await readBody(req);
    if (url.pathname.startsWith('/_control/')) return control(req.method ?? 'GET', url, body, res);
    const behaviour = behaviours.get(url.pathname);
    const headers = flatHeaders(req);
    received.push({
      path: url.pathname,
      method: req.method ?? 'GET',
      query: url.search,
      headers,
      body,
      verified: behaviour?.secret ? verify(behaviour.secret, body, headers) : null,
      at: Date.now(),
    });
    for (const waiter of [...waiters]) waiter();
    const answer = behaviour?.responses.shift() ?? behaviour?.default ?? { status: 200 };
    if (answer.delayMs) await new Promise((resolve) => setTimeout(resolve, answer.delayMs));
    if (answer.reset) req.socket.resetAndDestroy();
    else if (!res.destroyed) res.writeHead(answer.status, answer.headers).end(answer.body ?? '');
  }

  async function control(method: string, url: URL, body: string, res: ServerResponse) {
    const reply = (status: number, json?: unknown) =>
      json === undefined ? res.writeHead(status).end() : res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(json));
    const path = url.searchParams.get('path');
    if (method === 'POST' && url.pathname === '/_control/behaviour') {
      const parsed = behaviourSchema.safeParse(parseJson(body));
      if (!parsed.success) return reply(400, { detail: z.prettifyError(parsed.error) });
      behaviours.set(parsed.data.path, parsed.data);
      return reply(204);
    }
    if (method === 'GET' && url.pathname === '/_control/received') return reply(200, { received: forPath(path) });
    if (method === 'GET' && url.pathname === '/_control/wait' && path) {
      const count = Number(url.searchParams.get('count') ?? 1);
      const timeoutMs = Number(url.searchParams.get('timeout_ms') ?? 10_000);
      return waitFor(path, count, timeoutMs).then(
        (requests) => reply(200, { received: requests }),
        () => reply(408, { received: forPath(path) }),
      );
    }
    if (method === 'POST' && url.pathname === '/_control/reset') {
      reset();
      return reply(204);
    }
    return reply(404, { detail: `no control endpoint ${method} ${url.pathname}` });
  }

  const { url, port, close } = await listen(server, host, options.port);
  return { url, port, received, setBehaviour, waitFor, reset, close };
}

function verify(key: string, body: string, headers: Record<string, string>): boolean {
  try {
    if (key.startsWith('whpk_')) return verifyV1a(key, body, headers);
    new Webhook(key).verify(body, headers, { jsonParse: false });
    return true;
  } catch {
    return false;
  }
}

function verifyV1a(publicKey: string, body: string, headers: Record<string, string>): boolean {
  const id = headers['webhook-id'];
  const timestamp = headers['webhook-timestamp'];
  if (!id || !timestamp || Math.abs(Date.now() / 1000 - Number(timestamp)) > TOLERANCE_SECONDS) return false;
  const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(publicKey.slice(5), 'base64').toString('base64url') }, format: 'jwk' });
  const content = Buffer.from(`${id}.${timestamp}.${body}`);
  return (headers['webhook-signature'] ?? '')
    .split(' ')
    .filter((entry) => entry.startsWith('v1a,'))
    .some((entry) => verifySignature(null, content, key, Buffer.from(entry.slice(4), 'base64')));
}
