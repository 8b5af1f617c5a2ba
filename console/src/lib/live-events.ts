/**
 * New events as they arrive: the live stream (`GET …/events/stream` as Server-Sent Events, read through
 * the typed client's fetch so the token travels in the Authorization header, resumed with
 * `since_sequence` after a drop: the last sequence per shard, as a comma list on a tenant with more
 * than one shard, whose merged stream is not in sequence order), or, where the runtime has no stream route (404), the events list
 * polled every 2 s from the moment live mode started.
 */
import { type StreamCursor, streamCursor } from '@switchyard/client';
import { useEffect, useState } from 'react';
import { api, type components, ok, UNAUTHORIZED } from './api';

type Event = components['schemas']['Event'];
export type LiveMode = 'connecting' | 'stream' | 'polling' | 'error';

const POLL_MS = 2000;
const MAX_KEPT = 200;

export function useLiveEvents(tenant: string, enabled: boolean, types: string): { events: Event[]; mode: LiveMode } {
  const [events, setEvents] = useState<Event[]>([]);
  const [mode, setMode] = useState<LiveMode>('connecting');
  useEffect(() => {
    if (!enabled) return;
    setEvents([]);
    setMode('connecting');
    const abort = new AbortController();
    const seen = new Set<string>();
    const cursor = streamCursor();
    const add = (batch: Event[]) => {
      const fresh = batch.filter((e) => !seen.has(e.id));
      for (const e of fresh) {
        seen.add(e.id);
        cursor.advance(e.sequence);
      }
      if (fresh.length) setEvents((old) => [...fresh.reverse(), ...old].slice(0, MAX_KEPT));
    };
    void (async () => {
      const started = new Date(Date.now() - 2000).toISOString();
      // a dropped stream resumes after the last event it delivered (or `ready`'s position), so nothing is missed or repeated
      for (let failures = 0; !abort.signal.aborted; ) {
        const streamed = await stream(tenant, types, cursor, abort.signal, add, () => setMode('stream')).catch(() => 'failed' as const);
        if (abort.signal.aborted) return;
        if (streamed === 'missing' || (streamed === 'failed' && ++failures >= 3)) break;
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
      if (abort.signal.aborted) return;
      setMode('polling');
      await poll(tenant, types, started, abort.signal, add, setMode);
    })();
    return () => abort.abort();
  }, [tenant, enabled, types]);
  return { events, mode };
}

async function stream(
  tenant: string,
  types: string,
  cursor: StreamCursor,
  signal: AbortSignal,
  add: (e: Event[]) => void,
  onOpen: () => void,
): Promise<'missing' | 'failed' | 'ended'> {
  const { response, data } = await api().GET('/v1/tenants/{tenantId}/events/stream', {
    params: { path: { tenantId: tenant }, query: { types: types || undefined, since_sequence: cursor.since() ?? undefined } },
    headers: { accept: 'text/event-stream' },
    parseAs: 'stream',
    signal,
  });
  const body = data as ReadableStream<BufferSource> | undefined;
  if (response.status === 401) window.dispatchEvent(new Event(UNAUTHORIZED));
  if (!response.ok || !body || !response.headers.get('content-type')?.includes('text/event-stream')) {
    await body?.cancel();
    // no stream route on this runtime (404/405): poll instead; anything else: try again
    return response.status === 404 || response.status === 405 ? 'missing' : 'failed';
  }
  onOpen();
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return 'ended';
    buffer += value;
    let end = buffer.search(/\r?\n\r?\n/);
    while (end >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, '');
      const data = block
        .split(/\r?\n/)
        .filter((line) => line.startsWith('data:'))
        .map((line) => line.slice(5).replace(/^ /, ''))
        .join('\n');
      if (data) {
        try {
          const message = JSON.parse(data) as { type?: string; event?: Event; head?: number; cursor?: string };
          if (message.type === 'event' && message.event && cursor.isNew(message.event.sequence)) add([message.event]);
          if (message.type === 'ready' && typeof message.head === 'number') cursor.advance(message.cursor ?? message.head);
        } catch {
          // a malformed frame is skipped; the next one still counts
        }
      }
      end = buffer.search(/\r?\n\r?\n/);
    }
  }
}

async function poll(tenant: string, types: string, since: string, signal: AbortSignal, add: (e: Event[]) => void, setMode: (m: LiveMode) => void) {
  let after = since;
  while (!signal.aborted) {
    try {
      let cursor: string | undefined;
      do {
        const page = await ok(
          api().GET('/v1/tenants/{tenantId}/events', {
            params: { path: { tenantId: tenant }, query: { after, cursor, type: types || undefined, limit: 100 } },
            signal,
          }),
        );
        add(page.data);
        const last = page.data.at(-1);
        if (last && last.received_at > after) after = last.received_at;
        cursor = page.next_cursor ?? undefined;
      } while (cursor && !signal.aborted);
      setMode('polling');
    } catch {
      if (signal.aborted) return;
      setMode('error');
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
