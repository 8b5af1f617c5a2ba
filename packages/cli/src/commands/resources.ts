/** `tenants list|create`, `sources create|rotate`, `subscriptions list|create|pause|resume`. */
import { defineCommand } from 'citty';
import { connectApi, unwrap } from '../api.ts';
import { jsonArg, tenantArg } from '../cli.ts';
import { usageError } from '../errors.ts';
import { parseJsonFlag } from '../ingest.ts';
import { note, printJson, printLine, printNextCursor, printTable } from '../output.ts';
import { typesList } from './stream-args.ts';

const pageArgs = {
  limit: { type: 'string', description: 'page size (1..500, default 100)', valueHint: 'n' },
  cursor: { type: 'string', description: 'the next_cursor of the previous page', valueHint: 'cursor' },
} as const;

const tenantsList = defineCommand({
  meta: { name: 'switchyard tenants list', description: 'Tenants in creation order (admin token)' },
  args: { name: { type: 'string', description: 'only tenants with this name', valueHint: 'name' }, ...pageArgs, ...jsonArg },
  async run({ args }) {
    const api = await connectApi();
    const query = { name: args.name, limit: args.limit === undefined ? undefined : Number(args.limit), cursor: args.cursor };
    const page = await unwrap(api.connection.url, api.client.GET('/v1/tenants', { params: { query } }));
    if (args.json) return printJson(page);
    printTable(
      ['ID', 'NAME', 'CREATED'],
      page.data.map((t) => [t.id, t.name, t.created_at]),
    );
    printNextCursor(page.next_cursor);
  },
});

const tenantsCreate = defineCommand({
  meta: { name: 'switchyard tenants create', description: 'Create a tenant (admin token)' },
  args: { name: { type: 'positional', required: true, description: 'the tenant name', valueHint: 'name' }, ...jsonArg },
  async run({ args }) {
    const api = await connectApi();
    const tenant = await unwrap(api.connection.url, api.client.POST('/v1/tenants', { body: { name: args.name } }));
    if (args.json) printJson(tenant);
    else printLine(`${tenant.id}  ${tenant.name}`);
  },
});

export const tenants = defineCommand({
  meta: { name: 'switchyard tenants', description: 'Tenants (admin)' },
  subCommands: { list: tenantsList, create: tenantsCreate },
});

const sourcesCreate = defineCommand({
  meta: { name: 'switchyard sources create', description: 'Create an ingest source (Standard Webhooks with a new whsec_ secret by default)' },
  args: {
    name: { type: 'positional', required: true, description: 'the source name', valueHint: 'name' },
    ...tenantArg,
    verifier: { type: 'string', description: 'verifier plugin type (default standard-webhooks)', valueHint: 'type' },
    secret: { type: 'string', description: "bring your own secret (e.g. GitHub's or Stripe's)", valueHint: 'secret' },
    ...jsonArg,
  },
  async run({ args }) {
    const api = await connectApi();
    const tenantId = api.tenant(args.tenant);
    if (args.secret !== undefined && args.verifier === undefined) throw usageError('error: --secret needs --verifier');
    const body = { name: args.name, ...(args.verifier ? { verifier: { type: args.verifier, ...(args.secret ? { secret: args.secret } : {}) } } : {}) };
    const source = await unwrap(api.connection.url, api.client.POST('/v1/tenants/{tenantId}/sources', { params: { path: { tenantId } }, body }));
    if (args.json) return printJson(source);
    printLine(`${source.id}  ${source.name}`);
    printLine(`ingest url: ${source.ingest_url}`);
    if (source.secret) printLine(`secret:     ${source.secret}  (shown only now)`);
  },
});

const sourcesRotate = defineCommand({
  meta: { name: 'switchyard sources rotate', description: "Rotate a source's signing secret; the old one keeps verifying for the grace period" },
  args: {
    id: { type: 'positional', required: true, description: 'the source id (src_…)', valueHint: 'src_…' },
    ...tenantArg,
    'grace-seconds': { type: 'string', description: 'how long the old secret stays valid (default 86400; 0 ends it now)', valueHint: 's' },
    ...jsonArg,
  },
  async run({ args }) {
    const api = await connectApi();
    const tenantId = api.tenant(args.tenant);
    const body = args['grace-seconds'] === undefined ? {} : { grace_seconds: Number(args['grace-seconds']) };
    const rotated = await unwrap(
      api.connection.url,
      api.client.POST('/v1/tenants/{tenantId}/sources/{sourceId}/rotate-secret', { params: { path: { tenantId, sourceId: args.id } }, body }),
    );
    if (args.json) return printJson(rotated);
    printLine(`new secret: ${rotated.secret}  (shown only now)`);
    printLine(`the previous one verifies until ${rotated.previous_secret_expires_at ?? 'now'}`);
  },
});

export const sources = defineCommand({
  meta: { name: 'switchyard sources', description: 'Ingest sources' },
  subCommands: { create: sourcesCreate, rotate: sourcesRotate },
});

const subscriptionsList = defineCommand({
  meta: { name: 'switchyard subscriptions list', description: 'Subscriptions (listeners of switchyard listen included, action cli)' },
  args: { ...tenantArg, ...pageArgs, ...jsonArg },
  async run({ args }) {
    const api = await connectApi();
    const tenantId = api.tenant(args.tenant);
    const query = { limit: args.limit === undefined ? undefined : Number(args.limit), cursor: args.cursor };
    const page = await unwrap(api.connection.url, api.client.GET('/v1/tenants/{tenantId}/subscriptions', { params: { path: { tenantId }, query } }));
    if (args.json) return printJson(page);
    printTable(
      ['ID', 'NAME', 'TYPES', 'ACTION', 'ENABLED', 'ORDERING'],
      page.data.map((s) => [
        s.id,
        s.name,
        s.types.join(','),
        actionLabel(s.action),
        s.enabled ? 'yes' : `no${s.disabled_reason ? ` (${s.disabled_reason})` : ''}`,
        s.ordering,
      ]),
    );
    printNextCursor(page.next_cursor);
  },
});

function actionLabel(action: unknown): string {
  const a = action as { type?: string; plugin_id?: string; config?: { url?: string } };
  if (a.plugin_id) return a.plugin_id;
  return a.config?.url ? `${a.type} ${a.config.url}` : (a.type ?? '?');
}

const subscriptionsCreate = defineCommand({
  meta: { name: 'switchyard subscriptions create', description: 'Subscribe a webhook (--url) or a registered action plugin (--plugin-id) to events' },
  args: {
    ...tenantArg,
    types: { type: 'string', required: true, description: 'comma-separated type patterns', valueHint: 'patterns' },
    url: { type: 'string', description: 'webhook endpoint', valueHint: 'url' },
    'plugin-id': { type: 'string', description: 'a registered action plugin instance instead of --url', valueHint: 'plg_…' },
    where: { type: 'string', description: 'a filter in the where language, JSON', valueHint: 'json' },
    ordering: { type: 'enum', options: ['none', 'partition'] as string[], description: 'partition: strict order per partition key' },
    name: { type: 'string', description: 'a name for it', valueHint: 'name' },
    ...jsonArg,
  },
  async run({ args }) {
    if (!args.url === !args['plugin-id']) throw usageError('error: give exactly one of --url and --plugin-id');
    const api = await connectApi();
    const tenantId = api.tenant(args.tenant);
    const body = {
      types: typesList(args.types)!,
      action: args.url ? { type: 'webhook', config: { url: args.url } } : { plugin_id: args['plugin-id']! },
      ...(args.where ? { where: parseJsonFlag('--where', args.where) as Record<string, unknown> } : {}),
      ...(args.ordering ? { ordering: args.ordering as 'none' | 'partition' } : {}),
      ...(args.name ? { name: args.name } : {}),
    };
    const created = await unwrap(api.connection.url, api.client.POST('/v1/tenants/{tenantId}/subscriptions', { params: { path: { tenantId } }, body }));
    if (args.json) return printJson(created);
    printLine(`${created.id}  ${created.types.join(',')}  ${actionLabel(created.action)}`);
    if (created.secret) printLine(`secret: ${created.secret}  (shown only now; receivers verify with it)`);
  },
});

function toggle(enabled: boolean) {
  const verb = enabled ? 'resume' : 'pause';
  return defineCommand({
    meta: {
      name: `switchyard subscriptions ${verb}`,
      description: enabled ? 'Enable a subscription again (resets its failure count)' : 'Disable a subscription: no new deliveries until resumed',
    },
    args: { id: { type: 'positional', required: true, description: 'the subscription id (sub_…)', valueHint: 'sub_…' }, ...tenantArg, ...jsonArg },
    async run({ args }) {
      const api = await connectApi();
      const tenantId = api.tenant(args.tenant);
      const updated = await unwrap(
        api.connection.url,
        api.client.PATCH('/v1/tenants/{tenantId}/subscriptions/{subscriptionId}', {
          params: { path: { tenantId, subscriptionId: args.id } },
          body: { enabled },
        }),
      );
      if (args.json) return printJson(updated);
      printLine(`${updated.id} ${enabled ? 'resumed' : 'paused'} (enabled: ${updated.enabled})`);
      if (!enabled) note('events that arrive while it is paused are not delivered to it later; replay them after resuming if needed');
    },
  });
}

export const subscriptions = defineCommand({
  meta: { name: 'switchyard subscriptions', description: 'Subscriptions' },
  subCommands: { list: subscriptionsList, create: subscriptionsCreate, pause: toggle(false), resume: toggle(true) },
});
