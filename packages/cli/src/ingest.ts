/**
 * Signed ingest for `send` and `trigger`: a CloudEvent (structured mode) or a batch
 * (`application/cloudevents-batch+json`), Standard Webhooks headers with the source's `whsec_`
 * secret. A request that fails on the network, with 429 or with 5xx is sent again (same event ids,
 * so the runtime deduplicates) with backoff, honouring `Retry-After`; a 4xx is final.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { USER_AGENT } from './api.ts';
import { CliError, EXIT, networkError, problemError } from './errors.ts';
import { signatureHeaders } from './signing.ts';

export const SINGLE = 'application/cloudevents+json';
export const BATCH = 'application/cloudevents-batch+json';
export const PRIORITIES = ['low', 'normal', 'high', 'critical'] as const;
const ATTEMPTS = 5;

export type CloudEvent = { specversion: string; id: string; source: string; type: string } & Record<string, unknown>;

export interface EventFields {
  type: string;
  data?: unknown;
  id?: string;
  subject?: string;
  partitionKey?: string;
  priority?: string;
  /** The CloudEvents `source` attribute (not the Switchyard source id). */
  eventSource?: string;
}

export function buildEvent(fields: EventFields, now = new Date()): CloudEvent {
  const event: CloudEvent = {
    specversion: '1.0',
    id: fields.id ?? randomUUID(),
    source: fields.eventSource ?? 'switchyard-cli',
    type: fields.type,
    time: now.toISOString(),
  };
  if (fields.subject !== undefined) event.subject = fields.subject;
  if (fields.partitionKey !== undefined) event.partitionkey = fields.partitionKey;
  if (fields.priority !== undefined) event.priority = fields.priority;
  if (fields.data !== undefined) {
    event.datacontenttype = 'application/json';
    event.data = fields.data;
  }
  return event;
}

export interface Accepted {
  status: 202;
  id: string;
  sequence: number;
  duplicate: boolean;
}
export type ItemResult = Accepted | { status: number; code?: string; detail?: string; dropped?: boolean; errors?: unknown[] };

export interface IngestTarget {
  url: string;
  secret: string;
}

/** POSTs one event; resolves with the 202 answer, throws a CliError for a problem. */
export async function sendOne(target: IngestTarget, event: CloudEvent): Promise<Accepted> {
  const { body } = await post(target, SINGLE, JSON.stringify(event), event.id);
  return body as Accepted;
}

/** POSTs up to 1000 events as one batch; resolves with the per-item results in input order. */
export async function sendBatch(target: IngestTarget, events: CloudEvent[]): Promise<ItemResult[]> {
  const { body } = await post(target, BATCH, JSON.stringify(events), `batch-${events[0]?.id ?? randomUUID()}-${events.length}`);
  return (body as { results: ItemResult[] }).results;
}

async function post(target: IngestTarget, contentType: string, body: string, messageId: string): Promise<{ status: number; body: unknown }> {
  for (let attempt = 1; ; attempt++) {
    let response: Response;
    try {
      response = await fetch(target.url, {
        method: 'POST',
        headers: { 'content-type': contentType, 'user-agent': USER_AGENT, ...signatureHeaders(target.secret, messageId, body) },
        body,
        signal: AbortSignal.timeout(60_000),
      });
    } catch (error) {
      if (attempt >= ATTEMPTS) throw networkError(target.url, error);
      await sleep(backoff(attempt));
      continue;
    }
    const text = await response.text();
    const parsed = parse(text);
    if (response.status === 202 || response.status === 200) return { status: response.status, body: parsed };
    const retryable = response.status === 429 || response.status >= 500;
    if (!retryable || attempt >= ATTEMPTS) throw problemError(response.status, parsed, response.statusText);
    await sleep(retryAfter(response.headers.get('retry-after')) ?? backoff(attempt));
  }
}

function backoff(attempt: number): number {
  return Math.min(10_000, 250 * 2 ** attempt) * (0.8 + Math.random() * 0.4);
}

function retryAfter(header: string | null): number | undefined {
  const seconds = header === null ? Number.NaN : Number(header);
  return Number.isFinite(seconds) && seconds >= 0 ? Math.min(seconds, 30) * 1000 : undefined;
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** `--data` / `--where` / `--set` values: JSON, with a usage error naming the flag otherwise. */
export function parseJsonFlag(flag: string, value: string): unknown {
  try {
    return JSON.parse(value);
  } catch (error) {
    throw new CliError(`error: ${flag} is not valid JSON: ${error instanceof Error ? error.message : String(error)}`, EXIT.usage);
  }
}
