/**
 * The live event stream of one tenant, held by its TenantLog: who listens (hibernatable WebSockets and
 * in-memory SSE streams), what each asked for, and how far each has got.
 *
 * Rules a reader would not guess:
 * - Every listener has a cursor: the sequence through which it has been given (or has been shown not
 *   to want) every event. Nothing at or below it is sent again, so the order of the sends, not luck,
 *   is what prevents duplicates.
 * - A listener that resumes (`since_sequence`) is registered with its cursor before its backlog is read;
 *   the events appended meanwhile are held in memory (bounded) and sent after the backlog, past its
 *   cursor. Its backlog stops at the head it was registered at, so every event is either in the backlog
 *   or held: no gap, no duplicate at the seam.
 * - `publish` runs after an append committed and never makes it wait: the sends are handed to the
 *   runtime in a task of their own, and a listener that falls behind is closed with 4008.
 * - A WebSocket keeps `{id, cursor, exp, live}` as its attachment (survives hibernation); its filter is
 *   in SQLite (stream-store.ts). A socket still reading its backlog when the object hibernated or was
 *   evicted has lost its held events, so it is closed with 1012 and resumes.
 * - A request with STREAM_HEADERS.mux is one shard's stream of a stream mux (src/http/stream-mux.ts):
 *   always SSE, each frame with its `received_at`, and a tick when quiet (stream-tick.ts).
 */
import type { Db } from '../db/client';
import { sharedConnection } from '../db/shared-connection';
import { problem, type Problem } from '../lib/problem';
import { readBacklogPage } from './stream-backlog';
import { CLOSE } from './stream-close';
import { eventMessage, fanOut, type Attachment, type Held, type Listener, type LiveEvent } from './stream-fan-out';
import { compileStreamFilter, filterSpecOf } from './stream-filter';
import { type FrameKind, sseOutlet, webSocketOutlet, type Transport } from './stream-outlet';
import { presentEvent } from './stream-render';
import { dueTicks, TICK_MS, tickMessage } from './stream-tick';
import { dropFilter, dropFiltersExcept, loadFilter, saveFilter, STREAM_SCHEMA } from './stream-store';

export { CLOSE, STREAM_SCHEMA };
export type { LiveEvent } from './stream-fan-out';

/** Listeners one tenant may have open at once: each costs a filter run per appended event. */
export const MAX_LISTENERS = 100;
export const KEEPALIVE_MS = 15_000;
/** A backlog send waits at most this long in all for the client to make room. */
export const PACING_LIMIT_MS = 30_000;

/** Internal request headers the route sets when it forwards a stream request to the TenantLog. */
export const STREAM_HEADERS = {
  tenant: 'x-switchyard-tenant',
  since: 'x-switchyard-since',
  exp: 'x-switchyard-token-exp',
  mux: 'x-switchyard-mux',
} as const;

export interface StreamHubHost {
  ctx: DurableObjectState;
  sql: SqlStorage;
  env: { DATABASE_URL: string; NEON_WS_PROXY?: string };
  /** The last sequence the log has committed. */
  head(): number;
  /** `[received_at, sequence]` that every later append comes after (the clamp moved up to now, and the head). */
  position(): [number, number];
}

export type StreamHub = ReturnType<typeof createStreamHub>;

const readyMessage = (head: number) => JSON.stringify({ type: 'ready', head });

export function createStreamHub(host: StreamHubHost) {
  const { ctx, sql } = host;
  const listeners = new Map<string, Listener>();
  const postgres = sharedConnection(host.env);
  let loaded = false;
  let queue: LiveEvent[][] = [];
  let draining = false;
  let keepalives: ReturnType<typeof setInterval> | null = null;
  let ticks: ReturnType<typeof setInterval> | null = null;
  const sseKeepalive = new Map<string, () => void>();

  /** After a wake from hibernation the sockets are there but the map is empty: rebuild it. */
  function load(): void {
    if (loaded) return;
    loaded = true;
    const alive: string[] = [];
    for (const ws of ctx.getWebSockets()) {
      const meta = ws.deserializeAttachment() as Attachment | null;
      const spec = meta ? loadFilter(sql, meta.id) : null;
      if (!meta || !spec || !meta.live) {
        webSocketOutlet(ws).close(CLOSE.restarting.code, CLOSE.restarting.reason);
        continue;
      }
      alive.push(meta.id);
      const outlet = webSocketOutlet(ws);
      listeners.set(meta.id, {
        ...meta,
        filter: compileStreamFilter(spec),
        outlet,
        ws,
        held: null,
        heldBytes: 0,
        heldThrough: 0,
        closed: false,
        mux: false,
        sentAt: 0,
      });
    }
    dropFiltersExcept(sql, alive);
  }

  function remove(listener: Listener): void {
    listener.closed = true;
    listeners.delete(listener.id);
    if (listener.ws) dropFilter(sql, listener.id);
    sseKeepalive.delete(listener.id);
    if (sseKeepalive.size === 0 && keepalives !== null) {
      clearInterval(keepalives);
      keepalives = null;
    }
    if (ticks !== null && ![...listeners.values()].some((l) => l.mux)) {
      clearInterval(ticks);
      ticks = null;
    }
  }

  function tick(): void {
    // appended events not yet fanned out would be passed by the tick
    if (draining || queue.length > 0) return;
    const due = dueTicks(listeners.values(), Date.now());
    if (due.length === 0) return;
    const [receivedAt, sequence] = host.position();
    for (const listener of due) deliver(listener, 'tick', sequence, tickMessage(receivedAt, sequence), receivedAt);
  }

  function close(listener: Listener, how: { code: number; reason: string }): void {
    if (listener.closed) return;
    remove(listener);
    listener.outlet.close(how.code, how.reason);
  }

  function saveCursor(listener: Listener): void {
    const { id, cursor, exp, live } = listener;
    listener.ws?.serializeAttachment({ id, cursor, exp, live } satisfies Attachment);
  }

  /** Sends what a backlog page or the held events hold, pacing itself instead of overflowing the client. */
  async function sendPaced(listener: Listener, sequence: number, message: string, receivedAt: number): Promise<boolean> {
    for (let waited = 0; ; ) {
      if (listener.closed) return false;
      const wait = listener.outlet.waitMsFor(message.length);
      if (wait === 0) break;
      // an SSE client that stopped reading in the middle of its backlog would otherwise hold it forever
      if ((waited += wait) > PACING_LIMIT_MS) {
        close(listener, CLOSE.slowConsumer);
        return false;
      }
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
    return deliver(listener, 'event', sequence, message, receivedAt);
  }

  /** One send; a listener too slow for it is closed (4008), one already gone is forgotten. */
  function deliver(listener: Listener, kind: FrameKind, id: number, message: string, receivedAt?: number): boolean {
    const sent = listener.outlet.send(kind, id, message, receivedAt);
    if (sent === 'sent') listener.sentAt = Date.now();
    else if (sent === 'slow') close(listener, CLOSE.slowConsumer);
    else if (sent === 'gone') remove(listener);
    return sent === 'sent';
  }

  async function catchUp(listener: Listener, tenantId: string, head: number): Promise<void> {
    const sources = { sql, tenantId, postgres: <T>(work: (db: Db) => Promise<T>) => postgres.use(work) };
    try {
      while (listener.cursor < head && !listener.closed) {
        const page = await readBacklogPage(sources, listener.cursor, head);
        for (const e of page.events) {
          if (listener.closed) return;
          if (e.sequence <= listener.cursor || !listener.filter.matches(e.type, () => e.stored.event)) continue;
          const message = eventMessage(e.sequence, JSON.stringify(presentEvent(e.stored)));
          if (!(await sendPaced(listener, e.sequence, message, Date.parse(e.stored.received_at)))) return;
        }
        listener.cursor = Math.max(listener.cursor, page.through);
      }
      // the events appended while the backlog was read, in order, past the cursor
      while (listener.held && listener.held.length > 0 && !listener.closed) {
        const next = listener.held.shift()!;
        listener.heldBytes -= next.message.length;
        if (next.sequence <= listener.cursor) continue;
        if (!(await sendPaced(listener, next.sequence, next.message, next.receivedAt))) return;
        listener.cursor = next.sequence;
      }
      if (listener.closed) return;
      listener.cursor = Math.max(listener.cursor, listener.heldThrough);
      goLive(listener);
    } catch (error) {
      console.warn(JSON.stringify({ msg: 'stream backlog failed', tenantId, listener: listener.id, error: String(error) }));
      close(listener, CLOSE.backlogFailed);
    }
  }

  function goLive(listener: Listener): void {
    listener.held = null;
    listener.heldBytes = 0;
    listener.live = true;
    saveCursor(listener);
    deliver(listener, 'ready', listener.cursor, readyMessage(listener.cursor));
  }

  function drain(): void {
    draining = false;
    const batches = queue;
    queue = [];
    load();
    for (const events of batches)
      if (events.length > 0 && listeners.size > 0) fanOut([...listeners.values()], events, Date.now(), { close, deliver, saveCursor });
  }

  return {
    /** Whether anyone listens (cheap: lets the log skip building `publish`'s argument). */
    listening(): boolean {
      return loaded ? listeners.size > 0 : ctx.getWebSockets().length > 0;
    },

    /** Queues one committed append's new events for the listeners; the sends run after the append answered. */
    publish(events: LiveEvent[]): void {
      if (events.length === 0) return;
      queue.push(events);
      if (draining) return;
      draining = true;
      setTimeout(drain, 0);
    },

    /** Opens a stream (the route validated the request and forwarded it with STREAM_HEADERS). */
    open(request: Request, transport: Transport): Response | Problem {
      load();
      if (listeners.size >= MAX_LISTENERS) {
        return problem(409, 'limit_reached', `a tenant may have at most ${MAX_LISTENERS} live streams open; close one first`);
      }
      const url = new URL(request.url);
      const spec = filterSpecOf(url.searchParams.get('types'), url.searchParams.get('where'));
      const tenantId = request.headers.get(STREAM_HEADERS.tenant) ?? '';
      const sinceHeader = request.headers.get(STREAM_HEADERS.since);
      const since = sinceHeader === null ? null : Number(sinceHeader);
      const head = host.head();
      // a mux reads one shard's stream over SSE, whatever its client speaks
      const mux = transport === 'sse' && request.headers.get(STREAM_HEADERS.mux) === '1';
      const base = {
        id: crypto.randomUUID(),
        // a cursor past the head names events that do not exist yet: live from the head, like no cursor
        cursor: since === null ? head : Math.min(since, head),
        exp: Number(request.headers.get(STREAM_HEADERS.exp) ?? 0) * 1000,
        live: false,
        filter: compileStreamFilter(spec),
        held: since === null ? null : ([] as Held[]),
        heldBytes: 0,
        heldThrough: 0,
        closed: false,
        mux,
        sentAt: 0,
      };
      let listener: Listener;
      let response: Response;
      if (transport === 'ws') {
        const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
        ctx.acceptWebSocket(server, ['stream']);
        saveFilter(sql, base.id, spec);
        listener = { ...base, outlet: webSocketOutlet(server), ws: server };
        saveCursor(listener);
        response = new Response(null, { status: 101, webSocket: client });
      } else {
        const sse = sseOutlet({ positions: mux });
        listener = { ...base, outlet: sse.outlet, ws: null };
        sse.closed.then(
          () => remove(listener),
          () => remove(listener),
        );
        sseKeepalive.set(listener.id, sse.keepalive);
        keepalives ??= setInterval(() => {
          for (const beat of sseKeepalive.values()) beat();
        }, KEEPALIVE_MS);
        response = new Response(sse.readable, {
          status: 200,
          headers: { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache, no-transform', 'x-accel-buffering': 'no' },
        });
      }
      listeners.set(listener.id, listener);
      if (mux) ticks ??= setInterval(tick, TICK_MS);
      if (since === null || since >= head) {
        listener.cursor = Math.max(listener.cursor, head);
        goLive(listener);
      } else {
        ctx.waitUntil(catchUp(listener, tenantId, head));
      }
      return response;
    },

    /** A WebSocket closed or failed: forget it (and answer the close, which the runtime may not do itself). */
    socketGone(ws: WebSocket, code?: number): void {
      load();
      const meta = ws.deserializeAttachment() as Attachment | null;
      const listener = meta ? listeners.get(meta.id) : undefined;
      if (listener) remove(listener);
      else if (meta) dropFilter(sql, meta.id);
      if (code !== undefined) webSocketOutlet(ws).close(code === 1005 || code === 1006 ? 1000 : code, '');
    },

    /** Closes every listener whose token expired by `now` (unix ms). */
    expire(now: number): void {
      load();
      for (const listener of [...listeners.values()]) if (now >= listener.exp) close(listener, CLOSE.tokenExpired);
    },

    /** The earliest token expiry among the listeners, unix ms, or null. */
    nextExpiry(): number | null {
      load();
      let next: number | null = null;
      for (const listener of listeners.values()) if (next === null || listener.exp < next) next = listener.exp;
      return next;
    },

    closeAll(how: { code: number; reason: string }): void {
      load();
      for (const listener of [...listeners.values()]) close(listener, how);
      for (const ws of ctx.getWebSockets()) webSocketOutlet(ws).close(how.code, how.reason);
    },
  };
}
