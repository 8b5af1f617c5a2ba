/**
 * The CLI's stream client against a local server speaking the live-stream protocol, for the cases
 * a real runtime does not produce on demand: a clean `1012` close, an event repeated at the resume
 * seam, a connection that goes silent (no `pong`: a laptop's sleep, a dead NAT), `4401`, and a
 * problem answered before the upgrade. The real runtime is in cli-e2e.test.ts.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type WebSocket, WebSocketServer } from 'ws';
import { runCli, startCli } from './cli-harness.ts';

const TENANT = 'tn_01STREAMTEST000000000000000';
const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const TOKEN = `${b64url({ alg: 'HS256' })}.${b64url({ scope: 'admin' })}.c2ln`;

type Script = (socket: WebSocket) => void;
const event = (sequence: number) =>
  JSON.stringify({
    type: 'event',
    sequence,
    event: { id: `evt_${sequence}`, ce_id: `c${sequence}`, sequence, type: 'orders.created', subject: `s/${sequence}`, data: {} },
  });

let server: Server;
let url: string;
const connections: { query: URLSearchParams; authorization: string | undefined }[] = [];
let scripts: Script[] = [];

beforeAll(async () => {
  const wss = new WebSocketServer({ noServer: true });
  server = createServer((_req, res) => {
    // what the client asks when a WebSocket does not open: the same URL without the upgrade
    res.writeHead(422, { 'content-type': 'application/problem+json' });
    res.end(JSON.stringify({ title: 'Unprocessable Content', status: 422, code: 'invalid_filter', detail: 'unknown operator $nope' }));
  });
  server.on('upgrade', (req: IncomingMessage, socket, head) => {
    const requestUrl = new URL(req.url ?? '/', 'http://stream');
    if (requestUrl.searchParams.has('where')) {
      socket.end('HTTP/1.1 422 Unprocessable Content\r\ncontent-type: application/problem+json\r\ncontent-length: 2\r\n\r\n{}');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      connections.push({ query: requestUrl.searchParams, authorization: req.headers.authorization });
      const script = scripts.shift();
      if (!script) return ws.close(1011, 'no script');
      script(ws);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise((resolve) => server.close(resolve)));

const answerPings = (ws: WebSocket) => ws.on('message', (data) => data.toString() === 'ping' && ws.send('pong'));

describe('switchyard tail, reconnecting', () => {
  it('resumes after the last processed sequence across a 1012 close and a silent connection, skips a repeat, and exits 3 on 4401', {
    timeout: 120_000,
  }, async () => {
    scripts = [
      (ws) => {
        answerPings(ws);
        ws.send(event(6));
        ws.send(event(7));
        // events 8 and 9 did not match the filter: the head lets the client move past them
        ws.send(JSON.stringify({ type: 'ready', head: 9 }));
        setTimeout(() => ws.close(1012, 'restarting'), 300);
      },
      (ws) => {
        // never answers ping: the client must notice and reconnect by itself
        ws.send(event(9));
        ws.send(event(10));
        ws.send(JSON.stringify({ type: 'ready', head: 10 }));
      },
      (ws) => {
        answerPings(ws);
        ws.send(JSON.stringify({ type: 'ready', head: 10 }));
        ws.send(event(11));
        setTimeout(() => ws.close(4401, 'token_expired'), 300);
      },
    ];
    const tail = startCli(['tail', '--tenant', TENANT, '--types', 'orders.*', '--since', '5'], { SWITCHYARD_URL: url, SWITCHYARD_TOKEN: TOKEN });
    const code = await new Promise<number | null>((resolve) => tail.child.on('close', resolve));
    expect(code, tail.stderr.join('\n')).toBe(3);
    expect(tail.lines.map((l) => l.text.replace(/^\d\d:\d\d:\d\d {2}/, ''))).toEqual([
      '#6  orders.created  evt_6  s/6',
      '#7  orders.created  evt_7  s/7',
      '#10  orders.created  evt_10  s/10',
      '#11  orders.created  evt_11  s/11',
    ]);
    expect(connections.map((c) => c.query.get('since_sequence'))).toEqual(['5', '9', '10']);
    expect(connections.every((c) => c.query.get('types') === 'orders.*' && c.authorization === `Bearer ${TOKEN}`)).toBe(true);
    const stderr = tail.stderr.join('\n');
    expect(stderr).toContain('connection lost (closed 1012 restarting)');
    expect(stderr).toContain('connection lost (no pong within 10 s: the connection is dead)');
    expect(stderr).toContain('token expired');
  });

  it('prints each event of a multi-shard stream once and resumes with the per-shard list', { timeout: 60_000 }, async () => {
    const shard = (s: number, n: number) => s * 10 ** 13 + n;
    const list = `2,${shard(1, 1)},${shard(2, 5)},${shard(3, 1)}`;
    const before = connections.length;
    scripts = [
      (ws) => {
        answerPings(ws);
        // merged in (received_at, sequence) order: shard 0's #1 and #2 come after higher shards' events
        for (const sequence of [shard(1, 1), 1, shard(3, 1), 2]) ws.send(event(sequence));
        ws.send(JSON.stringify({ type: 'ready', head: shard(3, 1), cursor: list }));
        setTimeout(() => ws.close(1012, 'restarting'), 300);
      },
      (ws) => {
        answerPings(ws);
        // a repeat of shard 0's last at the seam, then new events of shards 1 and 0
        for (const sequence of [2, shard(1, 2), 3]) ws.send(event(sequence));
        setTimeout(() => ws.close(4401, 'token_expired'), 300);
      },
    ];
    const tail = startCli(['tail', '--tenant', TENANT, '--since', String(shard(2, 5))], { SWITCHYARD_URL: url, SWITCHYARD_TOKEN: TOKEN });
    const code = await new Promise<number | null>((resolve) => tail.child.on('close', resolve));
    expect(code, tail.stderr.join('\n')).toBe(3);
    expect(tail.lines.map((l) => /#(\d+)/.exec(l.text)?.[1])).toEqual([shard(1, 1), 1, shard(3, 1), 2, shard(1, 2), 3].map(String));
    expect(connections.slice(before).map((c) => c.query.get('since_sequence'))).toEqual([String(shard(2, 5)), list]);
  });

  it('refuses a --since that is not a sequence or a list of them', async () => {
    const run = await runCli(['tail', '--tenant', TENANT, '--since', '5,x'], { SWITCHYARD_URL: url, SWITCHYARD_TOKEN: TOKEN });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('--since must be an integer >= 0, or a comma list of one per shard');
  });

  it('exits 1 with the problem the server answered instead of upgrading', { timeout: 60_000 }, async () => {
    const tail = startCli(['tail', '--tenant', TENANT, '--where', '{"data.x":{"$nope":1}}'], { SWITCHYARD_URL: url, SWITCHYARD_TOKEN: TOKEN });
    const code = await new Promise<number | null>((resolve) => tail.child.on('close', resolve));
    expect(code).toBe(1);
    expect(tail.stderr.join('\n')).toContain('error: Unprocessable Content (invalid_filter): unknown operator $nope');
  });
});
