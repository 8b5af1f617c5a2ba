/**
 * Signed ingest for `send` and `trigger`, through the SDK's producer: a CloudEvent (structured mode)
 * or a batch (`application/cloudevents-batch+json`), Standard Webhooks headers with the source's
 * `whsec_` secret.
 */
import { randomUUID } from 'node:crypto';
import { type BatchItemResult, createProducer, type EventInput, SwitchyardError } from '@switchyard/client';
import { CliError, EXIT, problemError } from './errors.ts';

export const PRIORITIES = ['low', 'normal', 'high', 'critical'] as const;

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

/**
 * A CloudEvent from flags. With an explicit `id` the event carries no `time`, so sending the same
 * flags again is the same event (a `duplicate`), never an `idempotency_conflict` over the clock.
 */
export function buildEvent(fields: EventFields, now = new Date()): CloudEvent {
  const event: CloudEvent = {
    specversion: '1.0',
    id: fields.id ?? randomUUID(),
    source: fields.eventSource ?? 'switchyard-cli',
    type: fields.type,
  };
  if (fields.id === undefined) event.time = now.toISOString();
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
  id: string;
  sequence: number;
  duplicate: boolean;
}
export type ItemResult = BatchItemResult;

export interface IngestTarget {
  url: string;
  secret: string;
}

/**
 * The SDK's producer (`@switchyard/client`): it signs, and retries network errors, 429 and 5xx with
 * backoff (the ids are fixed before the first try, so a retry is deduplicated); a 4xx is final.
 */
function producer(target: IngestTarget) {
  try {
    return createProducer({ ingestUrl: target.url, secret: target.secret, source: 'switchyard-cli', timeoutMs: 60_000 });
  } catch (error) {
    throw new CliError(`error: ${error instanceof Error ? error.message : String(error)}`, EXIT.usage);
  }
}

/** POSTs one event; resolves with the 202 answer, throws a CliError for a problem. */
export async function sendOne(target: IngestTarget, event: CloudEvent): Promise<Accepted | { dropped: true; detail: string }> {
  try {
    // a whole CloudEvent: the producer keeps every attribute it is given
    return await producer(target).send(event as unknown as EventInput);
  } catch (error) {
    throw cliErrorOf(target.url, error);
  }
}

/** POSTs events as one batch (the producer splits past 1,000 events or 1 MB); the per-item results in input order. */
export async function sendBatch(target: IngestTarget, events: CloudEvent[]): Promise<ItemResult[]> {
  try {
    return (await producer(target).sendBatch(events as unknown as EventInput[])).results;
  } catch (error) {
    throw cliErrorOf(target.url, error);
  }
}

function cliErrorOf(url: string, error: unknown): unknown {
  if (!(error instanceof SwitchyardError)) return error;
  if (error.status === 0 && error.code !== 'invalid_response') return new CliError(`error: cannot reach ${url}: ${error.detail}`, EXIT.network);
  return problemError(error.status, error.problem);
}

/** `--data` / `--where` / `--set` values: JSON, with a usage error naming the flag otherwise. */
export function parseJsonFlag(flag: string, value: string): unknown {
  try {
    return JSON.parse(value);
  } catch (error) {
    throw new CliError(`error: ${flag} is not valid JSON: ${error instanceof Error ? error.message : String(error)}`, EXIT.usage);
  }
}
