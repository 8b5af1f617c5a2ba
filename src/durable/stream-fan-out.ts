/**
 * The live stream's listeners as the hub keeps them, and the fan-out of one committed append to them.
 * A listener's `cursor` is the sequence through which it has been given (or shown not to want) every
 * event: nothing at or below it is sent again.
 */
import { CLOSE } from './stream-close';
import type { StreamFilter } from './stream-filter';
import { WS_BUDGET_BYTES, type Outlet } from './stream-outlet';
import { presentEvent, storedFromLog } from './stream-render';

/** Events appended while a listener reads its backlog are held up to this many bytes. */
export const HELD_BYTES = WS_BUDGET_BYTES;

/** An event as an append committed it. */
export interface LiveEvent {
  sequence: number;
  id: string;
  sourceId: string;
  type: string;
  /** Unix ms. */
  receivedAt: number;
  /** The CloudEvent as stored, JSON text. */
  json: string;
  sha256: string;
}

export interface Attachment {
  id: string;
  cursor: number;
  /** Token expiry, unix ms. */
  exp: number;
  live: boolean;
}

export interface Held {
  sequence: number;
  message: string;
  /** Unix ms, for a stream mux listener's position. */
  receivedAt: number;
}

export interface Listener extends Attachment {
  filter: StreamFilter;
  outlet: Outlet;
  ws: WebSocket | null;
  /** Live events waiting for the backlog to finish; null once live. */
  held: Held[] | null;
  heldBytes: number;
  /** The last sequence offered to the listener while it was held (matching or not). */
  heldThrough: number;
  closed: boolean;
  /** One shard's internal stream of a stream mux (SSE with positions and ticks, stream-tick.ts). */
  mux: boolean;
  /** When the listener was last sent anything (Unix ms): a mux listener quiet for a tick gets one. */
  sentAt: number;
}

export const eventMessage = (sequence: number, eventJson: string) => `{"type":"event","sequence":${sequence},"event":${eventJson}}`;

/** What the fan-out does through the hub: close a listener, send to it, remember its cursor. */
export interface FanOutOps {
  close(listener: Listener, how: { code: number; reason: string }): void;
  /** False when the listener did not take the message (too slow, or gone); the hub has dealt with it. */
  deliver(listener: Listener, kind: 'event', id: number, message: string, receivedAt: number): boolean;
  saveCursor(listener: Listener): void;
}

/**
 * Sends one committed append's events to every listener that wants them: each event is parsed (for a
 * `where`) and rendered at most once, whatever the number of listeners. A listener still reading its
 * backlog gets them held instead (bounded by {@link HELD_BYTES}); a listener whose token expired is
 * closed with 4401.
 */
export function fanOut(listeners: Listener[], events: LiveEvent[], now: number, ops: FanOutOps): void {
  const parsed = new Map<number, Record<string, unknown>>();
  const messages = new Map<number, string>();
  const eventOf = (e: LiveEvent) => {
    let value = parsed.get(e.sequence);
    if (!value) parsed.set(e.sequence, (value = JSON.parse(e.json) as Record<string, unknown>));
    return value;
  };
  const messageOf = (e: LiveEvent) => {
    let message = messages.get(e.sequence);
    if (message === undefined) {
      const stored = storedFromLog({ id: e.id, sequence: e.sequence, source_id: e.sourceId, received_at: e.receivedAt, event: e.json, sha256: e.sha256 });
      messages.set(e.sequence, (message = eventMessage(e.sequence, JSON.stringify(presentEvent(stored)))));
    }
    return message;
  };
  for (const listener of listeners) {
    if (now >= listener.exp) {
      ops.close(listener, CLOSE.tokenExpired);
      continue;
    }
    const last = events.at(-1)!.sequence;
    if (listener.held) {
      for (const e of events) {
        if (e.sequence <= listener.cursor || !listener.filter.matches(e.type, () => eventOf(e))) continue;
        const message = messageOf(e);
        listener.held.push({ sequence: e.sequence, message, receivedAt: e.receivedAt });
        listener.heldBytes += message.length;
      }
      listener.heldThrough = Math.max(listener.heldThrough, last);
      if (listener.heldBytes > HELD_BYTES) ops.close(listener, CLOSE.slowConsumer);
      continue;
    }
    if (last <= listener.cursor) continue;
    for (const e of events) {
      if (e.sequence <= listener.cursor || !listener.filter.matches(e.type, () => eventOf(e))) continue;
      if (!ops.deliver(listener, 'event', e.sequence, messageOf(e), e.receivedAt)) break;
    }
    if (listener.closed) continue;
    listener.cursor = last;
    ops.saveCursor(listener);
  }
}
