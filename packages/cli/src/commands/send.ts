/** `send`: signed ingest of one event (`--data`) or of an NDJSON file in batches (`--file`). */
import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { defineCommand } from 'citty';
import { jsonArg } from '../cli.ts';
import { resolveUrl } from '../config.ts';
import { CliError, EXIT, usageError } from '../errors.ts';
import { type CloudEvent, buildEvent, type IngestTarget, type ItemResult, PRIORITIES, parseJsonFlag, sendBatch, sendOne } from '../ingest.ts';
import { note, printJson, printLine } from '../output.ts';

export const ingestArgs = {
  source: { type: 'string', required: true, description: 'the source id to ingest into', valueHint: 'src_…' },
  secret: { type: 'string', required: true, description: "the source's signing secret", valueHint: 'whsec_…' },
  url: { type: 'string', description: 'the ingest URL (default: <runtime url>/v1/ingest/<source>)', valueHint: 'url' },
  'event-source': { type: 'string', description: 'the CloudEvents source attribute (default switchyard-cli)', valueHint: 'uri-ref' },
  subject: { type: 'string', description: 'the CloudEvents subject', valueHint: 'subject' },
  'partition-key': { type: 'string', description: 'partitionkey extension: the key of ordered delivery', valueHint: 'key' },
  priority: { type: 'enum', options: [...PRIORITIES] as string[], description: 'priority extension' },
  id: { type: 'string', description: 'the event id (default: a UUID); resending the same id is a duplicate', valueHint: 'id' },
} as const;

export async function ingestTarget(args: { source: string; secret: string; url?: string }): Promise<IngestTarget> {
  if (!args.secret.startsWith('whsec_')) throw usageError('error: --secret must be a whsec_ secret');
  const url = args.url ?? `${await resolveUrl()}/v1/ingest/${encodeURIComponent(args.source)}`;
  return { url, secret: args.secret };
}

export const send = defineCommand({
  meta: { name: 'switchyard send', description: 'Send a signed event (--data) or an NDJSON file of events in batches (--file)' },
  args: {
    ...ingestArgs,
    type: { type: 'string', description: 'the event type (required unless every --file line is a whole CloudEvent)', valueHint: 'type' },
    data: { type: 'string', description: 'the event data, JSON', valueHint: 'json' },
    file: {
      type: 'string',
      description: 'NDJSON: one event per line, a whole CloudEvent (with specversion) or the data of a --type event; - for stdin',
      valueHint: 'file',
    },
    'batch-size': { type: 'string', default: '500', description: 'events per batch request with --file (1..1000)', valueHint: 'n' },
    ...jsonArg,
  },
  async run({ args }) {
    if (args.data !== undefined && args.file !== undefined) throw usageError('error: give --data or --file, not both');
    const target = await ingestTarget(args);
    const fields = { subject: args.subject, partitionKey: args['partition-key'], priority: args.priority, eventSource: args['event-source'] };
    if (args.file === undefined) {
      if (!args.type) throw usageError('error: --type is required');
      const event = buildEvent({ ...fields, type: args.type, id: args.id, data: args.data === undefined ? undefined : parseJsonFlag('--data', args.data) });
      const accepted = await sendOne(target, event);
      if (args.json) return printJson({ ...accepted, ce_id: event.id });
      if ('dropped' in accepted) return printLine(`200 Dropped  ${accepted.detail}`);
      printLine(`202 Accepted  ${accepted.id}  sequence ${accepted.sequence}${accepted.duplicate ? '  (duplicate: already stored)' : ''}`);
      return;
    }
    const batchSize = Number(args['batch-size']);
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 1000) throw usageError('error: --batch-size must be an integer in 1..1000');
    const summary = await sendFile(target, args.file, batchSize, (line, n) => lineEvent(line, n, { ...fields, type: args.type, id: args.id }));
    if (args.json) printJson(summary);
    else {
      for (const r of summary.rejections) note(`line ${r.line}: error: ${r.code ?? r.status}: ${r.detail ?? ''}`);
      printLine(
        `Sent ${summary.events} events in ${summary.requests} requests: ${summary.accepted} accepted (${summary.duplicates} duplicates), ` +
          `${summary.rejected} rejected, ${summary.dropped} dropped in ${summary.seconds.toFixed(2)} s (${summary.events_per_second} events/s)`,
      );
    }
    if (summary.rejected > 0) throw new CliError(`error: ${summary.rejected} events were rejected`, EXIT.failure);
  },
});

interface LineFields {
  type?: string;
  id?: string;
  subject?: string;
  partitionKey?: string;
  priority?: string;
  eventSource?: string;
}

/** A line with `specversion` is a whole CloudEvent (a missing id or source filled in); any other line is data. */
function lineEvent(line: string, n: number, fields: LineFields): CloudEvent {
  const value = parseJsonFlag(`line ${n} of --file`, line);
  if (value && typeof value === 'object' && !Array.isArray(value) && 'specversion' in value) {
    const event = { source: fields.eventSource ?? 'switchyard-cli', ...(value as Record<string, unknown>) } as CloudEvent;
    event.id ??= randomUUID();
    if (!event.type) throw usageError(`error: line ${n} of --file has no type`);
    return event;
  }
  if (!fields.type) throw usageError(`error: line ${n} of --file is not a CloudEvent, so --type is required`);
  return buildEvent({ ...fields, type: fields.type, id: fields.id === undefined ? undefined : `${fields.id}-${n}`, data: value });
}

export interface SendSummary {
  events: number;
  requests: number;
  accepted: number;
  duplicates: number;
  rejected: number;
  dropped: number;
  seconds: number;
  events_per_second: number;
  rejections: { line: number; status: number; code?: string; detail?: string }[];
}

async function sendFile(target: IngestTarget, file: string, batchSize: number, toEvent: (line: string, n: number) => CloudEvent): Promise<SendSummary> {
  const input = file === '-' ? process.stdin : createReadStream(file);
  const opened = new Promise<void>((resolve, reject) => {
    if (file === '-') return resolve();
    input.once('open', () => resolve());
    input.once('error', (error: Error) => reject(new CliError(`error: cannot read ${file}: ${error.message}`, EXIT.usage)));
  });
  await opened;
  const summary: SendSummary = {
    events: 0,
    requests: 0,
    accepted: 0,
    duplicates: 0,
    rejected: 0,
    dropped: 0,
    seconds: 0,
    events_per_second: 0,
    rejections: [],
  };
  const started = performance.now();
  let chunk: { event: CloudEvent; line: number }[] = [];
  const flush = async () => {
    if (chunk.length === 0) return;
    const results = await sendBatch(
      target,
      chunk.map((c) => c.event),
    );
    summary.requests++;
    for (const [i, result] of results.entries()) count(summary, result, chunk[i]!.line);
    chunk = [];
  };
  let n = 0;
  for await (const line of createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY })) {
    n++;
    if (line.trim() === '') continue;
    chunk.push({ event: toEvent(line, n), line: n });
    summary.events++;
    if (chunk.length >= batchSize) await flush();
  }
  await flush();
  summary.seconds = (performance.now() - started) / 1000;
  summary.events_per_second = summary.seconds > 0 ? Math.round(summary.events / summary.seconds) : summary.events;
  return summary;
}

function count(summary: SendSummary, result: ItemResult, line: number): void {
  if (result.status === 202) {
    summary.accepted++;
    if ('duplicate' in result && result.duplicate) summary.duplicates++;
  } else if ('dropped' in result && result.dropped) summary.dropped++;
  else {
    summary.rejected++;
    const r = result as { status: number; code?: string; detail?: string };
    summary.rejections.push({ line, status: r.status, code: r.code, detail: r.detail });
  }
}
