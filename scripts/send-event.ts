/**
 * `npm run send-event [-- --type orders.created --data '{"amount":3}']`: sends one CloudEvent signed
 * with Standard Webhooks v1 to the demo source of `npm run dev` (.data/demo.json), or to --url/--secret.
 * Env equivalents: INGEST_URL, SOURCE_SECRET, EVENT_TYPE, EVENT_DATA.
 */
import { parseArgs } from 'node:util';
import { readDemo } from './lib/demo.ts';
import { signatureHeaders } from './lib/standard-webhooks.ts';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    secret: { type: 'string' },
    type: { type: 'string' },
    data: { type: 'string' },
  },
});

const demo = await readDemo();
const url = values.url ?? process.env.INGEST_URL ?? demo?.ingest_url;
const secret = values.secret ?? process.env.SOURCE_SECRET ?? demo?.secret;
if (!url || !secret) {
  console.error('No ingest URL or secret: start `npm run dev` first (it writes .data/demo.json), or pass --url and --secret.');
  process.exit(1);
}

const rawData = values.data ?? process.env.EVENT_DATA;
let data: unknown = { hello: 'world' };
if (rawData !== undefined) {
  try {
    data = JSON.parse(rawData);
  } catch (error) {
    console.error(`--data is not valid JSON: ${(error as Error).message}`);
    process.exit(1);
  }
}

const event = {
  specversion: '1.0',
  id: crypto.randomUUID(),
  source: 'switchyard/demo',
  type: values.type ?? process.env.EVENT_TYPE ?? 'demo.greeting',
  time: new Date().toISOString(),
  data,
};
const body = JSON.stringify(event);

try {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/cloudevents+json', ...signatureHeaders(secret, event.id, body) },
    body,
  });
  console.log(`POST ${url} -> ${response.status} ${response.statusText}`);
  console.log(await response.text());
  if (!response.ok) process.exitCode = 1;
} catch (error) {
  const cause = (error as Error & { cause?: Error }).cause;
  console.error(`POST ${url} failed: ${cause?.message ?? (error as Error).message} (is \`npm run dev\` running?)`);
  process.exitCode = 1;
}
