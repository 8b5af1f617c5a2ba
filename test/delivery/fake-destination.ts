/**
 * A scripted stand-in for a third-party endpoint on the internet: the only thing these tests mock.
 * It records each request as the destination would see it and answers from a queue of responses.
 */
import { createGuardedFetch } from '../../src/delivery/guarded-fetch';
import type { ActionContext, PluginEvent } from '../../src/plugins/types';

export interface RecordedRequest {
  url: string;
  method: string;
  headers: Headers;
  body: string;
  redirect: RequestInit['redirect'];
}

export type Script = Response | Error | (() => Response | Promise<Response>);

export function fakeDestination(...script: Script[]) {
  const requests: RecordedRequest[] = [];
  const fetchImpl = async (input: RequestInfo | URL, init: RequestInit = {}): Promise<Response> => {
    const request = new Request(input, init);
    requests.push({ url: request.url, method: request.method, headers: request.headers, body: await request.text(), redirect: init.redirect });
    const next = script.shift() ?? new Response('ok');
    if (next instanceof Error) throw next;
    return typeof next === 'function' ? next() : next;
  };
  return { requests, fetch: fetchImpl as typeof fetch };
}

/** A destination that accepts the request and then never answers, until the caller gives up. */
export function silentDestination() {
  let calls = 0;
  const fetchImpl = (_input: RequestInfo | URL, init: RequestInit = {}): Promise<Response> => {
    calls++;
    return new Promise((_, reject) => init.signal?.addEventListener('abort', () => reject(init.signal?.reason)));
  };
  return { calls: () => calls, fetch: fetchImpl as typeof fetch };
}

/** The context the runtime hands an action: here its fetch is the real guarded fetch over `fetchImpl`. */
export function actionContext<Config>(config: Config, fetchImpl: typeof fetch, signal = new AbortController().signal): ActionContext<Config> {
  return {
    tenantId: 'tn_test',
    config,
    log: { info() {}, warn() {} },
    signal,
    fetch: createGuardedFetch({ allowlist: [], fetchImpl }),
  };
}

export function cloudEvent(overrides: Partial<PluginEvent> = {}): PluginEvent {
  return {
    specversion: '1.0',
    id: 'evt_01',
    source: 'https://shop.example/orders',
    type: 'orders.created',
    subject: 'order-42',
    time: '2026-03-01T12:00:00Z',
    datacontenttype: 'application/json',
    data: { order: { id: 42, total: '12.50 €', items: ['apple', 'pear'] } },
    ...overrides,
  };
}
