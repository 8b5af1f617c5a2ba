/**
 * WebSocket-to-TCP proxy speaking the protocol of Neon's `wsproxy`: a client opens
 * `ws://host:port/v2?address=<pg-host>:<pg-port>` and every binary frame is piped to that TCP socket.
 * The unmodified `@neondatabase/serverless` driver reaches any local Postgres (or PGlite) through it.
 *
 * `pause()` refuses new connections and cuts open ones: the fault suite and tests use it to make
 * Postgres unreachable from the Worker without stopping the database itself.
 *
 * An optional `tap` sees every byte a client sends to Postgres (the benchmark counts protocol
 * messages with it, see pg-frames.ts); without one nothing changes.
 */
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';

export interface WsProxy {
  port: number;
  /** Value for `neonConfig.wsProxy` / the `NEON_WS_PROXY` var: `host:port/v2`. */
  endpoint: string;
  pause(): void;
  resume(): void;
  close(): Promise<void>;
}

/** Observes the byte streams of each proxied connection. */
export interface ProxyTap {
  open(connection: number): void;
  clientData(connection: number, chunk: Buffer): void;
  serverData?(connection: number, chunk: Buffer): void;
  close(connection: number): void;
}

export async function startWsProxy(options: { port?: number; host?: string; tap?: ProxyTap } = {}): Promise<WsProxy> {
  const host = options.host ?? '127.0.0.1';
  const server: Server = createServer((_req, res) => {
    res.writeHead(426, { 'content-type': 'text/plain' }).end('websocket upgrade required\n');
  });
  const wss = new WebSocketServer({ server });
  const open = new Set<WebSocket>();
  let paused = false;
  let connections = 0;
  const tap = options.tap;

  wss.on('connection', (ws, req) => {
    const address = new URL(req.url ?? '/', 'http://proxy').searchParams.get('address') ?? '';
    const [pgHost, pgPort] = splitAddress(address);
    if (paused || !pgHost) {
      ws.close(1011, paused ? 'paused' : 'missing address');
      return;
    }
    open.add(ws);
    const connection = ++connections;
    tap?.open(connection);
    const socket = connect({ host: pgHost, port: pgPort, noDelay: true });
    const pending: Buffer[] = [];
    socket.on('connect', () => {
      for (const chunk of pending.splice(0)) socket.write(chunk);
    });
    socket.on('data', (chunk) => {
      tap?.serverData?.(connection, chunk);
      ws.send(chunk);
    });
    socket.on('error', () => ws.close(1011, 'upstream error'));
    socket.on('close', () => ws.close());
    ws.on('message', (data) => {
      const chunk = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
      tap?.clientData(connection, chunk);
      if (socket.connecting) pending.push(chunk);
      else socket.write(chunk);
      // PGlite's socket server ignores Terminate and keeps the connection open, so the driver's end() would
      // wait forever; Postgres closes here itself, so ending our side changes nothing for it
      if (chunk.equals(TERMINATE)) {
        if (socket.connecting) socket.once('connect', () => socket.end());
        else socket.end();
      }
    });
    ws.on('close', () => {
      if (open.delete(ws)) tap?.close(connection);
      socket.destroy();
    });
    ws.on('error', () => socket.destroy());
  });

  await new Promise<void>((resolve) => server.listen(options.port ?? 0, host, resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    port,
    endpoint: `${host}:${port}/v2`,
    pause() {
      paused = true;
      for (const ws of open) ws.terminate();
    },
    resume() {
      paused = false;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const ws of open) ws.terminate();
        wss.close();
        server.close(() => resolve());
      }),
  };
}

/** The Postgres frontend Terminate message: 'X' and length 4. */
const TERMINATE = Buffer.from([0x58, 0, 0, 0, 4]);

function splitAddress(address: string): [string, number] {
  const at = address.lastIndexOf(':');
  if (at <= 0) return [address, 5432];
  return [address.slice(0, at), Number(address.slice(at + 1)) || 5432];
}
