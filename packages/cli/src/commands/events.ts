/** `events list|get`, `deliveries list|get|retry`, `replay`. */
import { defineCommand } from 'citty';
import { connectApi, unwrap } from '../api.ts';
import { jsonArg, tenantArg } from '../cli.ts';
import { parseJsonFlag } from '../ingest.ts';
import { printJson, printLine, printNextCursor, printTable } from '../output.ts';
import { typesList } from './stream-args.ts';

const pageArgs = {
  limit: { type: 'string', description: 'page size (1..500, default 100)', valueHint: 'n' },
  cursor: { type: 'string', description: 'the next_cursor of the previous page', valueHint: 'cursor' },
} as const;

const limitOf = (limit: string | undefined) => (limit === undefined ? undefined : Number(limit));

const eventsList = defineCommand({
  meta: { name: 'switchyard events list', description: 'Stored events in sequence order (oldest first)' },
  args: {
    ...tenantArg,
    type: { type: 'string', description: 'only these types (comma-separated)', valueHint: 'types' },
    subject: { type: 'string', description: 'only this subject', valueHint: 'subject' },
    'correlation-id': { type: 'string', description: 'only this correlation id', valueHint: 'id' },
    after: { type: 'string', description: 'received at or after (RFC 3339)', valueHint: 'time' },
    before: { type: 'string', description: 'received before (RFC 3339)', valueHint: 'time' },
    ...pageArgs,
    ...jsonArg,
  },
  async run({ args }) {
    const api = await connectApi();
    const tenantId = api.tenant(args.tenant);
    const query = {
      type: args.type,
      subject: args.subject,
      correlation_id: args['correlation-id'],
      after: args.after,
      before: args.before,
      limit: limitOf(args.limit),
      cursor: args.cursor,
    };
    const page = await unwrap(api.connection.url, api.client.GET('/v1/tenants/{tenantId}/events', { params: { path: { tenantId }, query } }));
    if (args.json) return printJson(page);
    printTable(
      ['SEQ', 'RECEIVED', 'TYPE', 'ID', 'SUBJECT'],
      page.data.map((e) => [e.sequence, e.received_at, e.type, e.id, e.subject]),
    );
    printNextCursor(page.next_cursor);
  },
});

const eventsGet = defineCommand({
  meta: { name: 'switchyard events get', description: 'One stored event (the CloudEvent with sequence, ce_id, source_id, received_at)' },
  args: { id: { type: 'positional', required: true, description: 'the event id (evt_…)', valueHint: 'evt_…' }, ...tenantArg, ...jsonArg },
  async run({ args }) {
    const api = await connectApi();
    const tenantId = api.tenant(args.tenant);
    const event = await unwrap(
      api.connection.url,
      api.client.GET('/v1/tenants/{tenantId}/events/{eventId}', { params: { path: { tenantId, eventId: args.id } } }),
    );
    if (args.json) printJson(event);
    else printLine(JSON.stringify(event, null, 2));
  },
});

export const events = defineCommand({
  meta: { name: 'switchyard events', description: 'Stored events' },
  subCommands: { list: eventsList, get: eventsGet },
});

const deliveriesList = defineCommand({
  meta: { name: 'switchyard deliveries list', description: 'Deliveries, newest first, with their status' },
  args: {
    ...tenantArg,
    'event-id': { type: 'string', description: 'only the deliveries of this event', valueHint: 'evt_…' },
    'subscription-id': { type: 'string', description: 'only those of this subscription or listener', valueHint: 'sub_…' },
    status: { type: 'string', description: 'pending, delivered, failed or skipped', valueHint: 'status' },
    ...pageArgs,
    ...jsonArg,
  },
  async run({ args }) {
    const api = await connectApi();
    const tenantId = api.tenant(args.tenant);
    const query = {
      event_id: args['event-id'],
      subscription_id: args['subscription-id'],
      status: args.status as 'pending' | 'delivered' | 'failed' | 'skipped' | undefined,
      limit: limitOf(args.limit),
      cursor: args.cursor,
    };
    const page = await unwrap(api.connection.url, api.client.GET('/v1/tenants/{tenantId}/deliveries', { params: { path: { tenantId }, query } }));
    if (args.json) return printJson(page);
    printTable(
      ['ID', 'STATUS', 'ATTEMPTS', 'LAST', 'EVENT', 'SUBSCRIPTION', 'UPDATED'],
      page.data.map((d) => [d.id, d.status, d.attempts, d.last_status ?? d.last_error, d.event_id, d.subscription_id, d.updated_at]),
    );
    printNextCursor(page.next_cursor);
  },
});

const deliveriesGet = defineCommand({
  meta: { name: 'switchyard deliveries get', description: 'One delivery with every attempt' },
  args: { id: { type: 'positional', required: true, description: 'the delivery id (dlv_…)', valueHint: 'dlv_…' }, ...tenantArg, ...jsonArg },
  async run({ args }) {
    const api = await connectApi();
    const tenantId = api.tenant(args.tenant);
    const d = await unwrap(
      api.connection.url,
      api.client.GET('/v1/tenants/{tenantId}/deliveries/{deliveryId}', { params: { path: { tenantId, deliveryId: args.id } } }),
    );
    if (args.json) return printJson(d);
    printLine(`${d.id}  ${d.status}  event ${d.event_id} (#${d.event_sequence})  subscription ${d.subscription_id}`);
    printTable(
      ['ATTEMPT', 'STARTED', 'OUTCOME', 'STATUS', 'MS', 'ERROR'],
      d.attempt_log.map((a) => [a.attempt, a.started_at, a.outcome, a.status_code, a.latency_ms, a.error]),
    );
  },
});

const deliveriesRetry = defineCommand({
  meta: { name: 'switchyard deliveries retry', description: 'Send a finished delivery again, with a fresh retry schedule' },
  args: { id: { type: 'positional', required: true, description: 'the delivery id (dlv_…)', valueHint: 'dlv_…' }, ...tenantArg, ...jsonArg },
  async run({ args }) {
    const api = await connectApi();
    const tenantId = api.tenant(args.tenant);
    const queued = await unwrap(
      api.connection.url,
      api.client.POST('/v1/tenants/{tenantId}/deliveries/{deliveryId}/retry', { params: { path: { tenantId, deliveryId: args.id } } }),
    );
    if (args.json) printJson(queued);
    else printLine(`${queued.id} queued again (${queued.status})`);
  },
});

export const deliveries = defineCommand({
  meta: { name: 'switchyard deliveries', description: 'Deliveries and their attempts' },
  subCommands: { list: deliveriesList, get: deliveriesGet, retry: deliveriesRetry },
});

export const replay = defineCommand({
  meta: { name: 'switchyard replay', description: 'Re-deliver stored events (a time range, types, a filter) to one subscription or every matching one' },
  args: {
    ...tenantArg,
    'subscription-id': { type: 'string', description: 'only to this subscription (default: every matching one)', valueHint: 'sub_…' },
    from: { type: 'string', description: 'events received at or after (RFC 3339)', valueHint: 'time' },
    to: { type: 'string', description: 'events received before (RFC 3339)', valueHint: 'time' },
    types: { type: 'string', description: 'comma-separated type patterns', valueHint: 'patterns' },
    where: { type: 'string', description: 'a filter in the where language, JSON', valueHint: 'json' },
    ...jsonArg,
  },
  async run({ args }) {
    const api = await connectApi();
    const tenantId = api.tenant(args.tenant);
    const body = {
      ...(args['subscription-id'] ? { subscription_id: args['subscription-id'] } : {}),
      ...(args.from ? { from: args.from } : {}),
      ...(args.to ? { to: args.to } : {}),
      ...(args.types ? { types: typesList(args.types) } : {}),
      ...(args.where ? { where: parseJsonFlag('--where', args.where) as Record<string, unknown> } : {}),
    };
    const started = await unwrap(api.connection.url, api.client.POST('/v1/tenants/{tenantId}/replays', { params: { path: { tenantId } }, body }));
    if (args.json) printJson(started);
    else printLine(`replay ${started.id} ${started.status}; follow it with: curl …/v1/tenants/${tenantId}/replays/${started.id}`);
  },
});
