/**
 * `npm run send-event [-- --type orders.created --data '{"amount":3}' --count 5]`: sends CloudEvents
 * signed with Standard Webhooks v1 to the demo source of `npm run dev` (.data/demo.json), or to
 * --url/--secret. `npm run send-event -- --help` lists every option (scripts/lib/send-event-options.ts).
 */
import { randomUUID } from 'node:crypto';
import { readDemo } from './lib/demo.ts';
import { buildEvents, HELP, parseSendEventArgs } from './lib/send-event-options.ts';
import { signatureHeaders } from './lib/standard-webhooks.ts';

const parsed = parseSendEventArgs(process.argv.slice(2), process.env);
if (parsed.kind === 'help') {
  console.log(HELP);
  process.exit(0);
}
if (parsed.kind === 'error') {
  console.error(`${parsed.message}\n\n${HELP}`);
  process.exit(2);
}
const { options } = parsed;

const demo = options.url && options.secret ? null : await readDemo();
const url = options.url ?? demo?.ingest_url;
const secret = options.secret ?? demo?.secret;
if (!url || !secret) {
  console.error('No ingest URL or secret: start `npm run dev` first (it writes .data/demo.json), or pass --url and --secret.');
  process.exit(1);
}

const events = buildEvents(options);
const batch = options.count > 1;
const body = JSON.stringify(batch ? events : events[0]);
// the signature's message id: the event's id for one event (as a producer would), a fresh one for a batch
const messageId = batch ? `msg_${randomUUID()}` : String(events[0]?.id);

try {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': batch ? 'application/cloudevents-batch+json' : 'application/cloudevents+json', ...signatureHeaders(secret, messageId, body) },
    body,
  });
  console.log(`POST ${url} (${batch ? `batch of ${events.length} events` : `event ${messageId}`}) -> ${response.status} ${response.statusText}`);
  console.log(await response.text());
  if (!response.ok) process.exitCode = 1;
} catch (error) {
  const cause = (error as Error & { cause?: Error }).cause;
  console.error(`POST ${url} failed: ${cause?.message ?? (error as Error).message} (is \`npm run dev\` running?)`);
  process.exitCode = 1;
}
