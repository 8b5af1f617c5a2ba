/**
 * Signed ingest requests prepared before a timed window. Every event id is unique across the run,
 * so nothing the benchmark sends is a duplicate; if a window outlasts the pool, further requests are
 * signed on demand and counted (`signedLate`), so a reader can tell the pool was too small.
 */
import type { LoadRequest } from '../lib/load.ts';
import { makeEvent, signedIngest, type EventOptions, type Source } from '../lib/switchyard-api.ts';

export interface RequestPool {
  next(): LoadRequest;
  /** Requests handed out so far. */
  used(): number;
  /** Events in the requests handed out so far. */
  eventsUsed(): number;
  signedLate(): number;
}

let serial = 0;

export function requestPool(source: Source, options: { label: string; eventsPerRequest: number; size: number; event?: EventOptions }): RequestPool {
  const { label, eventsPerRequest } = options;
  const runTag = `${process.pid.toString(36)}${Date.now().toString(36)}`;
  const build = (): LoadRequest => {
    const events = Array.from({ length: eventsPerRequest }, () => {
      const n = ++serial;
      return makeEvent(`${label}-${runTag}-${n}`, n, options.event);
    });
    const signed = signedIngest(source, events, eventsPerRequest === 1 ? 'single' : 'batch');
    return { method: 'POST', path: signed.path, headers: signed.headers, body: signed.body };
  };
  const prepared = Array.from({ length: options.size }, build);
  let index = 0;
  let late = 0;
  return {
    next() {
      const request = prepared[index];
      if (request) {
        prepared[index++] = undefined as unknown as LoadRequest;
        return request;
      }
      index++;
      late++;
      return build();
    },
    used: () => index,
    eventsUsed: () => index * eventsPerRequest,
    signedLate: () => late,
  };
}
