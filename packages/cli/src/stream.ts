/**
 * A client of the live stream (`GET /v1/tenants/{t}/events/stream`, WebSocket; contract in the
 * README's "Live stream"): events are handed to `onEvent` strictly in order, one at a time, and the
 * cursor (the last sequence fully processed) only moves once `onEvent` resolved. Any close, network
 * loss or silent death (a `ping` every 20 s that gets no `pong` within 10 s: sleep, wake, a dead NAT)
 * ends the connection; what was already received is still processed, then the client reconnects
 * with `since_sequence=<cursor>` and exponential backoff, so nothing is lost or repeated. On a tenant
 * with more than one shard the cursor is per shard (the merged stream's sequences are not monotonic):
 * an event is processed iff it is above its shard's last, and the resume point is the comma list. More than
 * `MAX_PENDING` unprocessed events close the connection too (it resumes from the cursor once they
 * are done), which bounds memory when the consumer is slower than the tenant's traffic.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { type StreamCursor, streamCursor } from '@switchyard/client';
import { USER_AGENT } from './api.ts';
import { CliError, EXIT, problemError } from './errors.ts';

export const PING_EVERY_MS = 20_000;
export const PONG_WITHIN_MS = 10_000;
const MAX_PENDING = 2_000;
const MAX_BACKOFF_MS = 30_000;

/** An event as `GET /v1/tenants/{t}/events/{id}` returns it. */
export type ApiEvent = { id: string; ce_id: string; sequence: number; type: string; subject?: string } & Record<string, unknown>;
export interface EventMessage {
  type: 'event';
  sequence: number;
  event: ApiEvent;
}

export interface StreamOptions {
  url: string;
  token: string;
  tenant: string;
  types?: string;
  where?: string;
  /** Resume after this sequence (or comma list of per-shard ones); null: live events only, from the current head. */
  since: string | null;
  signal: AbortSignal;
}

export interface StreamHandlers {
  onEvent(message: EventMessage): Promise<void>;
  /** The stream is live; `first` is false after a reconnect. */
  onReady?(head: number, first: boolean): void;
  onDisconnect?(why: string, retryInMs: number): void;
}

interface ConnectionEnd {
  ready: boolean;
  why: string;
  /** 4008 (slow consumer) and our own back-pressure close: reconnect at once. */
  immediate: boolean;
}

/**
 * Runs until `signal` aborts (resolves with where to resume: the `--since` value, null before anything
 * was seen) or a fatal error (a refused token, a deleted tenant: throws).
 */
export async function runStream(options: StreamOptions, handlers: StreamHandlers): Promise<string | null> {
  const state: StreamState = { cursor: streamCursor(options.since), readyOnce: false };
  let failures = 0;
  while (!options.signal.aborted) {
    const end = await connectOnce(options, handlers, state);
    if (options.signal.aborted) break;
    failures = end.ready ? 0 : failures + 1;
    const delay = end.immediate ? 0 : Math.min(MAX_BACKOFF_MS, 500 * 2 ** failures) * (0.8 + Math.random() * 0.4);
    handlers.onDisconnect?.(end.why, Math.round(delay));
    await sleep(delay, undefined, { signal: options.signal }).catch(() => undefined);
  }
  return state.cursor.since();
}

export function streamUrl(options: Pick<StreamOptions, 'url' | 'tenant' | 'types' | 'where'>, since: string | null): string {
  const query = new URLSearchParams();
  if (options.types) query.set('types', options.types);
  if (options.where) query.set('where', options.where);
  if (since !== null) query.set('since_sequence', since);
  const qs = query.toString();
  return `${options.url}/v1/tenants/${encodeURIComponent(options.tenant)}/events/stream${qs ? `?${qs}` : ''}`;
}

interface StreamState {
  cursor: StreamCursor;
  readyOnce: boolean;
}

async function connectOnce(options: StreamOptions, handlers: StreamHandlers, state: StreamState): Promise<ConnectionEnd> {
  const httpUrl = streamUrl(options, state.cursor.since());
  const init = { headers: { authorization: `Bearer ${options.token}`, 'user-agent': USER_AGENT } };
  // Node's WebSocket (undici) takes request headers in a second argument the DOM typings do not know
  const ws = new WebSocket(httpUrl.replace(/^http/, 'ws'), init as unknown as string[]);
  const queue: (EventMessage | { type: 'ready'; head: number; cursor?: string })[] = [];
  let opened = false;
  let ready = false;
  let ended = false;
  let immediate = false;
  let why = '';
  let fatal: unknown;
  // set and cleared synchronously: undici dispatches several messages in one task
  let working = false;
  let drained: Promise<void> = Promise.resolve();
  let pongTimer: ReturnType<typeof setTimeout> | undefined;
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));

  const end = (reason: string, close = true) => {
    if (ended) return;
    ended = true;
    why ||= reason;
    clearInterval(pinger);
    clearTimeout(pongTimer);
    if (close) {
      try {
        ws.close(1000);
      } catch {
        // already closing
      }
    }
    finish();
  };
  const onAbort = () => end('interrupted');
  options.signal.addEventListener('abort', onAbort, { once: true });

  // every throw inside is caught, so `working` is cleared in the same run that empties the queue
  const work = async () => {
    working = true;
    while (queue.length > 0 && !options.signal.aborted && fatal === undefined) {
      const item = queue.shift()!;
      try {
        if (item.type === 'ready') {
          // every matching event up to the head (per shard: up to `cursor`) came before `ready`
          state.cursor.advance(item.cursor ?? item.head);
          handlers.onReady?.(item.head, !state.readyOnce);
          state.readyOnce = true;
        } else if (state.cursor.isNew(item.sequence)) {
          await handlers.onEvent(item);
          state.cursor.advance(item.sequence);
        }
      } catch (error) {
        fatal = error;
        end('fatal');
      }
    }
    working = false;
  };
  const enqueue = (item: (typeof queue)[number]) => {
    queue.push(item);
    if (queue.length > MAX_PENDING) {
      immediate = true;
      end(`more than ${MAX_PENDING} events waiting; resuming from #${state.cursor.since() ?? 0} once they are done`);
    }
    if (!working) drained = work();
  };

  const pinger = setInterval(() => {
    if (ended || !opened) return;
    ws.send('ping');
    pongTimer ??= setTimeout(() => end('no pong within 10 s: the connection is dead', true), PONG_WITHIN_MS);
  }, PING_EVERY_MS);

  ws.addEventListener('open', () => {
    opened = true;
  });
  ws.addEventListener('message', (message) => {
    if (ended || typeof message.data !== 'string') return;
    if (message.data === 'pong') {
      clearTimeout(pongTimer);
      pongTimer = undefined;
      return;
    }
    let parsed: { type?: string; sequence?: unknown; head?: unknown; cursor?: unknown; event?: unknown };
    try {
      parsed = JSON.parse(message.data);
    } catch {
      return;
    }
    if (parsed.type === 'ready' && typeof parsed.head === 'number') {
      ready = true;
      enqueue({ type: 'ready', head: parsed.head, ...(typeof parsed.cursor === 'string' ? { cursor: parsed.cursor } : {}) });
    } else if (parsed.type === 'event' && typeof parsed.sequence === 'number' && parsed.event && typeof parsed.event === 'object') {
      enqueue(parsed as EventMessage);
    }
  });
  // Node's WebSocket reports a refused handshake (a 4xx problem instead of 101) with `error` and no `close`
  ws.addEventListener('error', () => {
    if (!opened) end('could not connect');
    else setTimeout(() => end('connection error'), 1_000);
  });
  ws.addEventListener('close', (event) => {
    if (event.code === 4401)
      fatal ??= new CliError(`error: the stream closed: the token expired (${event.code} ${event.reason}); log in with a new token`, EXIT.auth);
    if (event.code === 4410) fatal ??= new CliError(`error: the stream closed: the tenant was deleted (${event.code} ${event.reason})`, EXIT.failure);
    if (event.code === 4008) immediate = true;
    end(opened ? `closed ${event.code}${event.reason ? ` ${event.reason}` : ''}` : 'could not connect', false);
  });

  await finished;
  options.signal.removeEventListener('abort', onAbort);
  if (!opened && fatal === undefined && !options.signal.aborted) {
    const refused = await diagnose(httpUrl, options.token);
    if (refused instanceof CliError) fatal = refused;
    else if (refused) why = `could not connect: ${refused}`;
  }
  // what arrived before the end is still processed in order (unless interrupted or fatal)
  await drained;
  if (fatal !== undefined) throw fatal;
  return { ready, why, immediate };
}

/**
 * Why a WebSocket did not open (the browser API hides the HTTP answer): the same request without
 * the upgrade. A 4xx problem (bad token, bad filter, unknown tenant) is fatal; anything else is
 * worth a retry and comes back as text.
 */
async function diagnose(url: string, token: string): Promise<CliError | string | null> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 10_000);
  try {
    const response = await fetch(url, {
      headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream', 'user-agent': USER_AGENT },
      signal: controller.signal,
    });
    if (response.ok) return null;
    const text = await response.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    const retryable = response.status === 408 || response.status === 429 || response.status >= 500;
    return retryable ? `HTTP ${response.status}` : problemError(response.status, body, response.statusText);
  } catch (error) {
    const cause = error instanceof Error && error.cause instanceof Error ? error.cause.message : String(error);
    return cause;
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
}
