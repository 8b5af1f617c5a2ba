/**
 * The live stream of a tenant with more than one shard (docs/design/sharding.md §3 "Live stream"):
 * one internal SSE stream per shard, each served by the shard's TenantLog as for a 1-shard tenant
 * (backlog seam included) but with STREAM_HEADERS.mux, merged here into the events API's order,
 * `(received_at, sequence)`.
 *
 * Rules a reader would not guess:
 * - Every shard frame carries its position, and a quiet shard sends a tick: nothing at or before it
 *   will come from that shard (durable/stream-tick.ts). An event is emitted only once every other
 *   shard has its next event buffered (the earliest goes first) or has sent an event or tick at or
 *   beyond it, so nothing that sorts before it can come later. Idle shards delay by up to a tick.
 * - At most one frame per shard is buffered: a shard's stream is not read while its event waits to be
 *   emitted, so backpressure reaches the shard's outlet (4008 past its 4 MiB queue).
 * - `ready` goes once every shard sent its own, so after every shard's backlog; its `cursor` is the
 *   list to resume with. Until then sends are paced like a backlog, after it a client that cannot take
 *   a message is closed with 4008, as the 1-shard stream does.
 * - A shard's close (4008, 4401, 4410, 1012, 1011) closes the client with the same code and the other
 *   shards' streams; a shard stream that breaks off without one closes the client with 1012.
 * - The client's connection is held by this Worker invocation, so it cannot hibernate.
 */
import { CLOSE } from '../durable/stream-close';
import { KEEPALIVE_MS, PACING_LIMIT_MS, STREAM_HEADERS } from '../durable/stream-hub';
import { sseOutlet, webSocketOutlet, type Outlet, type Transport } from '../durable/stream-outlet';
import type { Problem } from '../lib/problem';
import { allShards, SEQUENCE_STRIDE, shardLog } from '../tenancy/shard-routing';
import { formatStreamCursor, shardSince, type StreamCursor } from './stream-cursor';
import { frameReader, type FrameReader } from './stream-frames';

/**
 * How many shards a tenant's stream reads: the one place that decides it (a live change of the count,
 * sharding.md §4, makes it the highest count ever used, `max(shards, shard_span)`).
 */
export function streamShardCount(tenant: { shards: number; shard_span: number }): number {
  return Math.max(tenant.shards, tenant.shard_span);
}

export interface MuxRequest {
  tenantId: string;
  shards: number;
  /** `types` and `where` as the shards take them. */
  search: URLSearchParams;
  /** The token's expiry, Unix seconds: every shard closes with 4401 at it. */
  exp: number;
  /** Where to resume; null: live from every shard's head. */
  cursor: StreamCursor | null;
  transport: Transport;
}

type Position = readonly [receivedAt: number, sequence: number];
const atOrAfter = (a: Position, b: Position) => a[0] > b[0] || (a[0] === b[0] && a[1] >= b[1]);

interface Upstream {
  shard: number;
  frames: FrameReader;
  /** Its next event, read and waiting to be emitted. */
  next: { position: Position; data: string } | null;
  /** Its last emitted event or tick: nothing at or before it will come from this shard. */
  through: Position | null;
  ready: boolean;
  /** Lets the shard's read loop go on once `next` was emitted (or the stream ended). */
  taken: (() => void) | null;
}

/** Opens every shard's stream, then answers with the merged one; a shard's refusal is returned instead. */
export async function openStreamMux(env: Pick<Env, 'TENANT_LOG'>, request: MuxRequest): Promise<Response | Problem> {
  const opened = await Promise.allSettled(allShards(request.shards).map((shard) => shardLog(env, request.tenantId, shard).fetch(shardRequest(request, shard))));
  const responses = opened.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
  const failed = opened.find((o) => o.status === 'rejected');
  const refused = responses.find((r) => r.status >= 400 || !r.body);
  if (failed || refused) {
    for (const r of responses) if (r !== refused) r.body?.cancel().catch(() => {});
    if (failed) throw failed.reason;
    return refused!.json<Problem>();
  }
  const upstreams: Upstream[] = responses.map((r, shard) => ({ shard, frames: frameReader(r.body!), next: null, through: null, ready: false, taken: null }));
  const client = request.transport === 'ws' ? webSocketClient() : sseClient();
  const merge = mergeShards(upstreams, client.outlet, new Map(request.cursor));
  client.onGone(() => merge.end(null));
  // the client's connection keeps this invocation (and so the merge) alive: an accepted WebSocket, or a streamed body
  void merge.done.then(client.stop);
  return client.response;
}

function shardRequest(request: MuxRequest, shard: number): Request {
  const headers = new Headers({ accept: 'text/event-stream' });
  headers.set(STREAM_HEADERS.tenant, request.tenantId);
  headers.set(STREAM_HEADERS.exp, String(request.exp));
  headers.set(STREAM_HEADERS.mux, '1');
  if (request.cursor) headers.set(STREAM_HEADERS.since, String(shardSince(request.cursor, shard)));
  return new Request(`https://tenant-log.internal/stream?${request.search}`, { headers });
}

function mergeShards(upstreams: Upstream[], outlet: Outlet, cursor: StreamCursor) {
  let ended = false;
  let live = false;
  let pacing: ReturnType<typeof setTimeout> | null = null;
  let waited = 0;
  let finished!: () => void;
  const done = new Promise<void>((resolve) => (finished = resolve));
  const idOf = () => (outlet.transport === 'sse' ? formatStreamCursor(cursor) : 0);

  function end(how: { code: number; reason: string } | null): void {
    if (ended) return;
    ended = true;
    if (pacing !== null) clearTimeout(pacing);
    if (how) outlet.close(how.code, how.reason);
    for (const u of upstreams) {
      u.frames.cancel();
      u.taken?.();
    }
    finished();
  }

  /** Emits events while the earliest buffered one is known to be next. */
  function emit(): void {
    while (!ended && pacing === null) {
      let first: Upstream | null = null;
      for (const u of upstreams) if (u.next && (!first || !atOrAfter(u.next.position, first.next!.position))) first = u;
      if (!first) return;
      const { position, data } = first.next!;
      if (upstreams.some((u) => u !== first && !u.next && !(u.through && atOrAfter(u.through, position)))) return;
      const wait = live ? 0 : outlet.waitMsFor(data.length);
      if (wait > 0) {
        waited += wait;
        if (waited > PACING_LIMIT_MS) end(CLOSE.slowConsumer);
        else
          pacing = setTimeout(() => {
            pacing = null;
            emit();
          }, wait);
        return;
      }
      waited = 0;
      cursor.set(first.shard, position[1]);
      first.through = position;
      first.next = null;
      first.taken?.();
      const sent = outlet.send('event', idOf(), data);
      if (sent !== 'sent') end(sent === 'slow' ? CLOSE.slowConsumer : null);
    }
  }

  function shardReady(u: Upstream, shardHead: number): void {
    u.ready = true;
    // the shard's own cursor (a shard that never numbered an event says 0)
    cursor.set(u.shard, Math.max(shardHead, u.shard * SEQUENCE_STRIDE));
    if (live || upstreams.some((x) => !x.ready)) return;
    live = true;
    const list = formatStreamCursor(cursor);
    // a number as for 1 shard: the highest sequence of any shard (0 when none has an event); resume with `cursor`
    const head = Math.max(...list.split(',').map(Number));
    const sent = outlet.send('ready', list, JSON.stringify({ type: 'ready', head, cursor: list }));
    if (sent !== 'sent') end(sent === 'slow' ? CLOSE.slowConsumer : null);
  }

  async function read(u: Upstream): Promise<void> {
    for (;;) {
      const frame = await u.frames.next();
      if (ended) return;
      if (frame === null) return end(CLOSE.restarting);
      if (frame.event === 'event') {
        const taken = new Promise<void>((resolve) => (u.taken = resolve));
        u.next = { position: [frame.at, frame.id], data: frame.data };
        emit();
        await taken;
        if (ended) return;
      } else if (frame.event === 'tick') {
        u.through = [frame.at, frame.id];
        emit();
      } else if (frame.event === 'ready') {
        shardReady(u, frame.id);
        emit();
      } else if (frame.event === 'close') {
        const { code, reason } = JSON.parse(frame.data) as { code: number; reason: string };
        return end({ code, reason });
      }
    }
  }

  for (const u of upstreams) read(u).catch(() => end(CLOSE.restarting));
  return { end, done };
}

interface ClientEnd {
  outlet: Outlet;
  response: Response;
  onGone(then: () => void): void;
  stop(): void;
}

/** A WebSocket accepted here (not hibernatable); `ping` is answered `pong`. */
function webSocketClient(): ClientEnd {
  const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
  server.accept();
  const outlet = webSocketOutlet(server);
  server.addEventListener('message', (e) => {
    if (e.data !== 'ping') return;
    try {
      server.send('pong');
    } catch {
      // closing
    }
  });
  return {
    outlet,
    response: new Response(null, { status: 101, webSocket: client }),
    onGone(then) {
      server.addEventListener('close', (e) => {
        then();
        outlet.close(e.code === 1005 || e.code === 1006 ? 1000 : e.code, '');
      });
      server.addEventListener('error', then);
    },
    stop() {},
  };
}

/** Server-Sent Events with a keepalive comment every KEEPALIVE_MS. */
function sseClient(): ClientEnd {
  const sse = sseOutlet();
  const keepalive = setInterval(sse.keepalive, KEEPALIVE_MS);
  return {
    outlet: sse.outlet,
    response: new Response(sse.readable, {
      status: 200,
      headers: { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache, no-transform', 'x-accel-buffering': 'no' },
    }),
    onGone(then) {
      sse.closed.then(then, then);
    },
    stop: () => clearInterval(keepalive),
  };
}
