/**
 * A small Node-side client of Switchyard's management and ingest API for the benchmark and the fault
 * suite: admin token, tenants, sources, schemas, plugins, subscriptions, and signed ingest requests
 * built ahead of time (so signing never runs inside a timed window).
 */
import { adminToken } from './dev-vars.ts';
import { signatureHeaders } from './standard-webhooks.ts';

export interface Source {
  tenantId: string;
  sourceId: string;
  secret: string;
}

export interface SignedRequest {
  method: 'POST';
  path: string;
  headers: Record<string, string>;
  body: string;
  /** CloudEvent ids the body carries, in order. */
  ids: string[];
}

export const SINGLE = 'application/cloudevents+json';
export const BATCH = 'application/cloudevents-batch+json';

export class ApiError extends Error {
  readonly status: number;
  readonly body: string;
  constructor(status: number, body: string, message: string) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

export interface Api {
  base: string;
  token: string;
  call<T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<{ status: number; json: T }>;
  /** Like `call`, but anything other than 2xx throws. */
  must<T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<T>;
}

export async function connectApi(base: string, adminSecret: string): Promise<Api> {
  const token = await adminToken(adminSecret, '2h');
  const call = async <T>(method: string, path: string, body?: unknown) => {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
    return { status: response.status, json: (await readJson(response)) as T };
  };
  return {
    base,
    token,
    call,
    async must<T>(method: string, path: string, body?: unknown) {
      const result = await call<T>(method, path, body);
      if (result.status < 200 || result.status > 299) {
        const text = JSON.stringify(result.json);
        throw new ApiError(result.status, text, `${method} ${path} -> ${result.status}: ${text.slice(0, 500)}`);
      }
      return result.json;
    },
  };
}

/** A tenant with one source; `shards` > 1 spreads the tenant's events over that many logs (README "Sharded tenants"). */
export async function createSource(api: Api, name: string, options: { shards?: number } = {}): Promise<Source> {
  const tenant = await api.must<{ id: string }>('POST', '/v1/tenants', { name, ...(options.shards && options.shards > 1 ? { shards: options.shards } : {}) });
  const source = await api.must<{ id: string; secret: string }>('POST', `/v1/tenants/${tenant.id}/sources`, { name: `${name} source` });
  return { tenantId: tenant.id, sourceId: source.id, secret: source.secret };
}

export async function createWebhookSubscription(
  api: Api,
  tenantId: string,
  url: string,
  extra: { types?: string[]; ordering?: 'none' | 'partition'; retry_schedule?: number[] } = {},
): Promise<{ id: string; secret: string }> {
  return api.must('POST', `/v1/tenants/${tenantId}/subscriptions`, { types: extra.types ?? ['**'], action: { type: 'webhook', config: { url } }, ...extra });
}

/** The plugin types the running deployment offers (`GET /v1/plugins`). */
export async function pluginCatalog(api: Api): Promise<{ id: string; kind: string; config_schema: Record<string, unknown> }[]> {
  const catalog = await api.must<{ data: { id: string; kind: string; config_schema: Record<string, unknown> }[] }>('GET', '/v1/plugins');
  return catalog.data;
}

export interface EventOptions {
  type?: string;
  partitionKey?: string;
  /** Events carry `partitionkey` key-0 … key-(n−1), by their serial number (overrides `partitionKey`). */
  partitionKeys?: number;
  data?: unknown;
}

/** A CloudEvent of about 330 bytes, the shape of a typical order webhook. */
export function makeEvent(id: string, n: number, options: EventOptions = {}): Record<string, unknown> {
  return {
    specversion: '1.0',
    id,
    source: 'https://shop.example.com/orders',
    type: options.type ?? 'orders.created',
    subject: `order/${n}`,
    time: new Date().toISOString(),
    ...(options.partitionKeys ? { partitionkey: `key-${n % options.partitionKeys}` } : options.partitionKey ? { partitionkey: options.partitionKey } : {}),
    data: options.data ?? {
      order_id: `ord_${n}`,
      amount: (n % 997) + 0.5,
      currency: 'EUR',
      customer: { id: `cus_${n % 1000}`, country: 'DE' },
      items: [{ sku: 'sku-1', qty: 1 + (n % 3) }],
    },
  };
}

/** One signed ingest request carrying one event (`single`) or an array of them (`batch`). */
export function signedIngest(source: Source, events: Record<string, unknown>[], mode: 'single' | 'batch', now = Date.now()): SignedRequest {
  const body = JSON.stringify(mode === 'single' ? events[0] : events);
  const messageId = `msg_${String(events[0]?.id)}_${events.length}`;
  return {
    method: 'POST',
    path: `/v1/ingest/${source.sourceId}`,
    headers: { 'content-type': mode === 'single' ? SINGLE : BATCH, ...signatureHeaders(source.secret, messageId, body, now) },
    body,
    ids: events.map((e) => String(e.id)),
  };
}

/** Sends a prepared request; network failures come back as status 0 with the error. */
export async function send(base: string, request: SignedRequest, timeoutMs = 30_000): Promise<{ status: number; json: unknown; error?: string }> {
  try {
    const response = await fetch(`${base}${request.path}`, {
      method: 'POST',
      headers: request.headers,
      body: request.body,
      signal: AbortSignal.timeout(timeoutMs),
    });
    return { status: response.status, json: await readJson(response) };
  } catch (error) {
    return { status: 0, json: null, error: String((error as Error).cause ?? error) };
  }
}

/** The body as JSON; an empty body is null, and one that is not JSON comes back as `{ raw }`. */
async function readJson(response: Response): Promise<unknown> {
  const text = await response.text();
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return { raw: text };
  }
}
