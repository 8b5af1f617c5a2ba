/** The options of `npm run send-event` and the CloudEvents they make. Pure, so test/node can check it. */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';

export const MAX_BATCH = 1000;

export const HELP = `Usage: npm run send-event [-- options]

Sends CloudEvents signed with Standard Webhooks v1 (HMAC-SHA256) to a source's ingest URL, by default
the demo source of \`npm run dev\` (kept in .data/demo.json), and prints the answer.

Options:
  --type TYPE            event type (default demo.greeting; env EVENT_TYPE)
  --data JSON            the event's data (default {"hello":"world"}; env EVENT_DATA)
  --id ID                the event's id, which deduplicates it (default: a random UUID); with --count N
                         the events get ID-1 … ID-N. With --id the event has no time attribute, so the
                         same command again answers duplicate: true (other --data: 422 idempotency_conflict)
  --subject SUBJECT      the CloudEvents subject
  --partition-key KEY    the partitionkey extension (ordered subscriptions keep order per key)
  --source SOURCE        the CloudEvents source (default switchyard/demo)
  --count N              send N events in one batch request (application/cloudevents-batch+json,
                         1 to ${MAX_BATCH}); the answer has one result per event, in order (default 1:
                         one structured-mode request)
  --url URL              ingest URL (default: the demo source's; env INGEST_URL)
  --secret whsec_…       the source's signing secret (default: the demo source's; env SOURCE_SECRET)
  -h, --help             this text

Examples:
  npm run send-event -- --type orders.created --data '{"amount":300}' --partition-key customer-7
  npm run send-event -- --type orders.created --data '{"amount":3}' --count 10
  npm run send-event -- --id order-42 --type orders.created   # run it twice: the second answers duplicate: true
`;

export interface SendEventOptions {
  url?: string;
  secret?: string;
  type: string;
  data: unknown;
  id?: string;
  subject?: string;
  partitionKey?: string;
  source: string;
  count: number;
}

export type Parsed = { kind: 'help' } | { kind: 'error'; message: string } | { kind: 'send'; options: SendEventOptions };

export function parseSendEventArgs(argv: string[], env: Readonly<Record<string, string | undefined>> = {}): Parsed {
  let values: ReturnType<typeof parseOptions>['values'];
  try {
    ({ values } = parseOptions(argv));
  } catch (error) {
    return { kind: 'error', message: (error as Error).message };
  }
  return fromValues(values, env);
}

function parseOptions(argv: string[]) {
  return parseArgs({
    args: argv,
    options: {
      url: { type: 'string' },
      secret: { type: 'string' },
      type: { type: 'string' },
      data: { type: 'string' },
      id: { type: 'string' },
      subject: { type: 'string' },
      'partition-key': { type: 'string' },
      source: { type: 'string' },
      count: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

function fromValues(values: ReturnType<typeof parseOptions>['values'], env: Readonly<Record<string, string | undefined>>): Parsed {
  if (values.help) return { kind: 'help' };

  const rawData = values.data ?? env.EVENT_DATA;
  let data: unknown = { hello: 'world' };
  if (rawData !== undefined) {
    try {
      data = JSON.parse(rawData);
    } catch (error) {
      return { kind: 'error', message: `--data is not valid JSON: ${(error as Error).message}` };
    }
  }
  const count = values.count === undefined ? 1 : Number(values.count);
  if (!Number.isInteger(count) || count < 1 || count > MAX_BATCH)
    return { kind: 'error', message: `--count must be a whole number from 1 to ${MAX_BATCH}, got ${values.count}` };

  return {
    kind: 'send',
    options: {
      url: values.url ?? env.INGEST_URL,
      secret: values.secret ?? env.SOURCE_SECRET,
      type: values.type ?? env.EVENT_TYPE ?? 'demo.greeting',
      data,
      id: values.id,
      subject: values.subject,
      partitionKey: values['partition-key'],
      source: values.source ?? 'switchyard/demo',
      count,
    },
  };
}

/**
 * The events to send: one, or `count` for a batch. A given `id` leaves `time` out, so that sending the
 * same options again gives the same body, which the dedup answers as a duplicate rather than a conflict.
 */
export function buildEvents(options: SendEventOptions, now = new Date()): Record<string, unknown>[] {
  return Array.from({ length: options.count }, (_, index) => ({
    specversion: '1.0',
    id: options.id === undefined ? randomUUID() : options.count === 1 ? options.id : `${options.id}-${index + 1}`,
    source: options.source,
    type: options.type,
    ...(options.id === undefined ? { time: now.toISOString() } : {}),
    ...(options.subject === undefined ? {} : { subject: options.subject }),
    ...(options.partitionKey === undefined ? {} : { partitionkey: options.partitionKey }),
    data: options.data,
  }));
}
