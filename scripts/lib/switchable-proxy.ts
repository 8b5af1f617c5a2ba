/**
 * An HTTP pass-through whose link can be switched: `up` forwards; `down` answers 503 with an Upstash
 * style `{error}` (what the REST server says when its Redis is stopped); `unreachable` resets every
 * connection; `slow` holds each request for `slowMs` before forwarding. Tests put it in front of a
 * dependency (the Upstash REST server) to watch the runtime degrade and recover.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

export type LinkMode = 'up' | 'down' | 'unreachable' | 'slow';

export interface SwitchableProxy {
  url: string;
  mode(): LinkMode;
  setMode(mode: LinkMode): void;
  close(): Promise<void>;
}

export async function startSwitchableProxy(target: string, options: { slowMs?: number; host?: string } = {}): Promise<SwitchableProxy> {
  let mode: LinkMode = 'up';
  const slowMs = options.slowMs ?? 3_000;
  const server = createServer((req, res) => {
    void (async () => {
      if (mode === 'unreachable') return req.socket.destroy();
      if (mode === 'down') {
        res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'ERR Redis unavailable: connect ECONNREFUSED 127.0.0.1:6379' }));
        return;
      }
      if (mode === 'slow') await new Promise((resolve) => setTimeout(resolve, slowMs));
      const body = await readBody(req);
      const headers = Object.fromEntries(
        Object.entries(req.headers).filter(([name, v]) => typeof v === 'string' && !['host', 'connection', 'content-length'].includes(name)),
      ) as Record<string, string>;
      const answer = await fetch(`${target}${req.url ?? '/'}`, { method: req.method, headers, body: body.length ? body : undefined });
      const bytes = Buffer.from(await answer.arrayBuffer());
      if (res.destroyed) return;
      res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/json', 'content-length': bytes.length }).end(bytes);
    })().catch(() => res.destroy());
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}`,
    mode: () => mode,
    setMode: (next) => {
      mode = next;
      if (next === 'unreachable') server.closeAllConnections();
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
