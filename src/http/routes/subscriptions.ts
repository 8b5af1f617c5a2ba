import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { recordAudit } from '../../db/audit';
import { actorOf } from '../../tenancy/principal';
import { findPlugin } from '../../db/plugins';
import { LISTENER_ACTION_TYPE } from '../../db/listeners';
import {
  deleteSubscription,
  findSubscription,
  insertSubscription,
  listSubscriptions,
  SUBSCRIPTION_MODES,
  SUBSCRIPTION_STATUSES,
  updateSubscription,
  type SubscriptionFields,
  type SubscriptionRow,
} from '../../db/subscriptions';
import { announceTransition, statusFields, transitionOf, type StatusFields } from '../../delivery/pause';
import { compileFilter } from '../../delivery/filter';
import { newEd25519Secret, newWhsecSecret } from '../../plugins/kit/signing';
import { retryScheduleSchema } from '../../delivery/retry-policy';
import { PRIORITIES } from '../../lib/priority';
import { configOf } from '../../config';
import { checkDestination } from '../../delivery/ssrf-guard';
import { problem, ProblemError } from '../../lib/problem';
import { newId } from '../../lib/ids';
import { seal } from '../../lib/secret-box';
import { pluginType } from '../../plugins/registry';
import { hasPlainSecrets, maskSecrets, openSecrets } from '../../plugins/secret-fields';
import { TypePatternSchema } from '../../lib/type-pattern';
import { changeConfig } from '../config-change';
import type { AppEnv } from '../context';
import { changedMeanwhile, etag, ifMatchVersion } from '../etag';
import { acceptPluginConfig, sealPluginConfig } from '../plugin-checks';
import { requirePluginType } from '../plugin-config';
import { CURSOR, decodeCursor, encodeCursor, idParam, json, PageQuery, problemResponses, TenantParam } from '../schemas';
import { loadTenant } from '../tenant-access';
import { assertBelowLimit, assertFilterSize } from '../tenant-limits';
import { Breaker, breakerView, registerSubscriptionHealth } from './subscription-health';
import { assertExecution, ExecutionFields, executionFields, executionOf } from './subscription-execution';

const Patterns = z.array(TypePatternSchema).min(1).max(50);
const Action = z
  .union([
    z.strictObject({ plugin_id: z.string() }),
    z.strictObject({ type: z.string().openapi({ example: 'webhook' }), config: z.record(z.string(), z.unknown()).default({}) }),
  ])
  .openapi({ example: { type: 'webhook', config: { url: 'https://example.com/hooks' } } });

const Fields = {
  name: z.string().max(200).nullable().optional(),
  types: Patterns.openapi({ example: ['orders.*'] }),
  where: z
    .record(z.string(), z.unknown())
    .nullable()
    .optional()
    .openapi({ description: 'Mongo-style filter over the CloudEvent', example: { 'data.amount': { $gt: 100 } } }),
  action: Action,
  transformer: z.strictObject({ plugin_id: z.string() }).nullable().optional(),
  ordering: z.enum(['none', 'partition']).default('none').openapi({ description: 'partition: strict order per partition key' }),
  priority: z.enum(PRIORITIES).nullable().optional().openapi({
    description: "lane for events without a priority of their own (the event's priority wins); null: normal",
  }),
  retry_schedule: retryScheduleSchema.nullable().optional(),
  ...ExecutionFields,
  failure_threshold: z.int().min(1).max(10_000).default(50).openapi({ description: 'consecutive failed attempts that open its circuit breaker' }),
  enabled: z.boolean().optional().openapi({ description: 'alias of status: false is disabled (default true)' }),
  breaker_disable_after_seconds: z
    .int()
    .min(60)
    .max(30 * 86_400)
    .optional()
    .openapi({ description: 'how long the circuit breaker may stay open before a failed probe disables the subscription (default 432000: 5 days)' }),
  status: z.enum(SUBSCRIPTION_STATUSES).optional().openapi({
    description: 'active (default); paused: deliveries are planned but held, unattempted, until it is active again; disabled: enabled false',
  }),
};

const SubscriptionSchema = z
  .object({
    id: z.string(),
    name: z.string().nullable(),
    types: z.array(z.string()),
    where: z.unknown().nullable(),
    action: z.record(z.string(), z.unknown()),
    transformer: z.object({ plugin_id: z.string() }).nullable(),
    ordering: z.enum(['none', 'partition']),
    priority: z.enum(PRIORITIES).nullable(),
    retry_schedule: z.array(z.number()).nullable(),
    mode: z.enum(SUBSCRIPTION_MODES),
    sync_timeout_ms: z.number(),
    delay_seconds: z.number(),
    emit_succeeded: z.boolean(),
    enabled: z.boolean(),
    status: z.enum(SUBSCRIPTION_STATUSES),
    paused_at: z.string().nullable(),
    breaker: Breaker,
    breaker_disable_after_seconds: z.number(),
    disabled_reason: z.string().nullable(),
    failure_threshold: z.number(),
    consecutive_failures: z.number(),
    version: z.number(),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi('Subscription');
const Created = SubscriptionSchema.extend({
  secret: z.string().nullable().openapi({ description: 'whsec_ signing secret, shown only now (v1 signing)' }),
  public_key: z.string().nullable().openapi({ description: 'whpk_ key receivers verify v1a signatures with' }),
}).openapi('CreatedSubscription');

const SubParams = TenantParam.extend({ subscriptionId: idParam('sub', 'subscriptionId') });
const sec = [{ bearer: [] }];

const routes = {
  create: createRoute({
    method: 'post',
    path: '/v1/tenants/{tenantId}/subscriptions',
    tags: ['subscriptions'],
    security: sec,
    summary: 'Subscribe an action to events',
    request: {
      params: TenantParam,
      body: {
        required: true,
        ...json(z.strictObject({ ...Fields, signing: z.enum(['v1', 'v1a']).default('v1').openapi({ description: 'v1: HMAC whsec_ secret; v1a: Ed25519' }) })),
      },
    },
    responses: { 201: { description: 'Created', ...json(Created) }, ...problemResponses(401, 404, 409, 422) },
  }),
  list: createRoute({
    method: 'get',
    path: '/v1/tenants/{tenantId}/subscriptions',
    tags: ['subscriptions'],
    security: sec,
    summary: 'List subscriptions',
    request: { params: TenantParam, query: PageQuery },
    responses: {
      200: { description: 'A page', ...json(z.object({ data: z.array(SubscriptionSchema), next_cursor: z.string().nullable() })) },
      ...problemResponses(400, 401, 404),
    },
  }),
  get: createRoute({
    method: 'get',
    path: '/v1/tenants/{tenantId}/subscriptions/{subscriptionId}',
    tags: ['subscriptions'],
    security: sec,
    summary: 'Read a subscription',
    request: { params: SubParams },
    responses: { 200: { description: 'The subscription (ETag for If-Match)', ...json(SubscriptionSchema) }, ...problemResponses(401, 404) },
  }),
  update: createRoute({
    method: 'patch',
    path: '/v1/tenants/{tenantId}/subscriptions/{subscriptionId}',
    tags: ['subscriptions'],
    security: sec,
    summary: 'Change a subscription: status active | paused | disabled (resuming sends what the pause held); enabling it again resets its failure count',
    request: {
      params: SubParams,
      headers: z.object({ 'if-match': z.string().optional() }),
      body: {
        required: true,
        ...json(
          z.strictObject({
            ...Fields,
            types: Fields.types.optional(),
            action: Action.optional(),
            ordering: z.enum(['none', 'partition']).optional(),
            failure_threshold: z.int().min(1).max(10_000).optional(),
          }),
        ),
      },
    },
    responses: { 200: { description: 'Updated', ...json(SubscriptionSchema) }, ...problemResponses(401, 404, 412, 422) },
  }),
  remove: createRoute({
    method: 'delete',
    path: '/v1/tenants/{tenantId}/subscriptions/{subscriptionId}',
    tags: ['subscriptions'],
    security: sec,
    summary: 'Delete a subscription',
    request: { params: SubParams },
    responses: { 204: { description: 'Deleted' }, ...problemResponses(401, 404) },
  }),
};

function present(s: SubscriptionRow) {
  return {
    id: s.id,
    name: s.name,
    types: s.types,
    where: s.filter ?? null,
    action: s.action_plugin_id
      ? { plugin_id: s.action_plugin_id }
      : s.action_type === LISTENER_ACTION_TYPE
        ? { type: LISTENER_ACTION_TYPE }
        : { type: s.action_type ?? '', config: maskSecrets(pluginType(s.action_type ?? ''), s.action_config ?? {}) },
    transformer: s.transformer_plugin_id ? { plugin_id: s.transformer_plugin_id } : null,
    ordering: s.ordering,
    priority: s.priority,
    retry_schedule: s.retry_schedule,
    mode: s.mode,
    sync_timeout_ms: s.sync_timeout_ms,
    delay_seconds: s.delay_seconds,
    emit_succeeded: s.emit_succeeded,
    enabled: s.enabled,
    status: s.status,
    paused_at: s.paused_at,
    breaker: breakerView(s),
    breaker_disable_after_seconds: s.breaker_disable_after_seconds,
    disabled_reason: s.disabled_reason,
    failure_threshold: s.failure_threshold,
    consecutive_failures: s.consecutive_failures,
    version: s.version,
    created_at: s.created_at,
    updated_at: s.updated_at,
  };
}

const invalid = (code: string, detail: string, pointer: string) => new ProblemError(problem(422, code, detail, { errors: [{ pointer, detail }] }));

/**
 * Validates the parts of a subscription that reach beyond zod: filter, action, transformer, destination.
 * `current` is the subscription being changed, whose inline action keeps the secrets a PATCH sends back
 * as SECRET_MARKER.
 */
async function resolveFields(
  c: Context<AppEnv>,
  tenantId: string,
  body: { where?: unknown; action?: z.infer<typeof Action>; transformer?: { plugin_id: string } | null },
  current?: SubscriptionRow,
): Promise<Partial<SubscriptionFields>> {
  const out: Partial<SubscriptionFields> = {};
  if (body.where !== undefined) {
    assertFilterSize(body.where);
    const compiled = compileFilter(body.where);
    if (!compiled.ok)
      throw new ProblemError(
        problem(422, 'invalid_filter', 'the where filter is invalid', { errors: compiled.errors.map((e) => ({ ...e, pointer: `/where${e.pointer}` })) }),
      );
    out.filter = body.where;
  }
  if (body.action) {
    if ('type' in body.action && body.action.type === LISTENER_ACTION_TYPE)
      throw invalid('listener_action_reserved', 'a cli action is a listener: create it with POST /v1/tenants/{tenantId}/listeners', '/action/type');
    let config: unknown;
    if ('plugin_id' in body.action) {
      const instance = await findPlugin(c.var.db, tenantId, body.action.plugin_id);
      if (instance?.kind !== 'action') throw invalid('plugin_not_found', `no action plugin instance ${body.action.plugin_id}`, '/action/plugin_id');
      Object.assign(out, { actionPluginId: instance.id, actionType: null, actionConfig: null });
      config = await openSecrets(c.env.ENCRYPTION_KEY, pluginType(instance.type), instance.config);
    } else {
      const type = requirePluginType(body.action.type, '/action/type', 'action');
      const stored = current && !current.action_plugin_id && current.action_type === type.id ? (current.action_config ?? undefined) : undefined;
      config = await acceptPluginConfig(c, tenantId, type, body.action.config, '/action/config', stored);
      Object.assign(out, { actionPluginId: null, actionType: type.id, actionConfig: await sealPluginConfig(c, type, config) });
    }
    const url = (config as { url?: unknown }).url;
    if (typeof url === 'string') {
      const verdict = checkDestination(url, configOf(c.env).egressAllowlist);
      if (!verdict.ok) throw invalid('destination_refused', `the destination is refused: ${verdict.reason}`, '/action/config/url');
    }
  }
  if (body.transformer !== undefined) {
    if (body.transformer) {
      const instance = await findPlugin(c.var.db, tenantId, body.transformer.plugin_id);
      if (instance?.kind !== 'transformer')
        throw invalid('plugin_not_found', `no transformer plugin instance ${body.transformer.plugin_id}`, '/transformer/plugin_id');
    }
    out.transformerPluginId = body.transformer?.plugin_id ?? null;
  }
  return out;
}

/** A listener keeps its name (the CLI finds it by name), its cli action and no transformer: those change only through /listeners. */
function assertListenerPatch(body: Record<string, unknown>): void {
  const fixed = ['name', 'action', 'transformer'].filter((field) => body[field] !== undefined);
  if (fixed.length === 0) return;
  const detail = 'this subscription is a listener: its name, action and transformer are managed through /v1/tenants/{tenantId}/listeners';
  throw new ProblemError(problem(422, 'listener_field_fixed', detail, { errors: fixed.map((field) => ({ pointer: `/${field}`, detail })) }));
}

const notFound = (id: string) => new ProblemError(problem(404, 'subscription_not_found', `no subscription ${id}`));

function requestedStatus(body: Parameters<typeof statusFields>[0], current?: SubscriptionRow): StatusFields {
  const change = statusFields(body, current?.status);
  if (!change.ok) throw new ProblemError(problem(422, 'status_conflict', change.detail, { errors: [{ pointer: '/status', detail: change.detail }] }));
  return change.fields;
}

export function registerSubscriptions(app: OpenAPIHono<AppEnv>): void {
  registerSubscriptionHealth(app);
  app.openapi(routes.create, async (c) => {
    const { tenantId } = c.req.valid('param');
    await loadTenant(c, tenantId);
    const body = c.req.valid('json');
    const resolved = await resolveFields(c, tenantId, body);
    const status = requestedStatus(body);
    const fields: SubscriptionFields = {
      name: body.name ?? null,
      types: body.types,
      filter: body.where ?? null,
      actionPluginId: null,
      actionType: null,
      actionConfig: null,
      transformerPluginId: null,
      ordering: body.ordering,
      priority: body.priority ?? null,
      retrySchedule: body.retry_schedule ?? null,
      enabled: status.enabled ?? true,
      paused: status.paused ?? false,
      failureThreshold: body.failure_threshold,
      breakerDisableAfterSeconds: body.breaker_disable_after_seconds ?? 432_000,
      ...executionFields(body),
      ...resolved,
    };
    assertExecution(fields);
    const signing = body.signing === 'v1a' ? await newEd25519Secret() : { secret: newWhsecSecret(), publicKey: null };
    const sealed = { id: newId('sec'), ciphertext: await seal(c.env.ENCRYPTION_KEY, signing.secret) };
    const id = newId('sub');
    const row = await changeConfig(c, tenantId, async () => {
      await assertBelowLimit(c.var.db, tenantId, 'subscriptions');
      const row = await insertSubscription(c.var.db, id, tenantId, fields, sealed);
      await recordAudit(c.var.db, { tenantId, actor: actorOf(c.get('principal')), action: 'subscription.created', target: id });
      return row;
    });
    if (row.status === 'paused') await announceTransition(c.env, c.var.db, tenantId, id, 'paused');
    const created = { ...present(row), secret: body.signing === 'v1a' ? null : signing.secret, public_key: signing.publicKey };
    return c.json(created, 201, { etag: etag(row.id, row.version) });
  });

  app.openapi(routes.list, async (c) => {
    const { tenantId } = c.req.valid('param');
    await loadTenant(c, tenantId);
    const { cursor, limit } = c.req.valid('query');
    const rows = await listSubscriptions(c.var.db, tenantId, { afterId: decodeCursor(cursor, CURSOR.id('sub')), limit: limit + 1 });
    const page = rows.slice(0, limit);
    return c.json({ data: page.map(present), next_cursor: rows.length > limit ? encodeCursor(page.at(-1)!.id) : null }, 200);
  });

  app.openapi(routes.get, async (c) => {
    const { tenantId, subscriptionId } = c.req.valid('param');
    await loadTenant(c, tenantId);
    const row = await findSubscription(c.var.db, tenantId, subscriptionId);
    if (!row) throw notFound(subscriptionId);
    return c.json(present(row), 200, { etag: etag(row.id, row.version) });
  });

  app.openapi(routes.update, async (c) => {
    const { tenantId, subscriptionId } = c.req.valid('param');
    await loadTenant(c, tenantId);
    const current = await findSubscription(c.var.db, tenantId, subscriptionId);
    if (!current) throw notFound(subscriptionId);
    const expected = ifMatchVersion(c.req.valid('header')['if-match'], current);
    const body = c.req.valid('json');
    if (current.action_type === LISTENER_ACTION_TYPE) assertListenerPatch(body);
    const fields: Partial<SubscriptionFields> = {
      ...(body.name !== undefined ? { name: body.name } : {}),
      ...(body.types ? { types: body.types } : {}),
      ...(body.ordering ? { ordering: body.ordering } : {}),
      ...(body.priority !== undefined ? { priority: body.priority } : {}),
      ...(body.retry_schedule !== undefined ? { retrySchedule: body.retry_schedule } : {}),
      ...(body.failure_threshold !== undefined ? { failureThreshold: body.failure_threshold } : {}),
      ...(body.breaker_disable_after_seconds !== undefined ? { breakerDisableAfterSeconds: body.breaker_disable_after_seconds } : {}),
      ...requestedStatus(body, current),
      ...executionFields(body),
      ...(await resolveFields(c, tenantId, body, current)),
    };
    assertExecution({ ...executionOf(current), ...fields });
    const inlineType = current.action_plugin_id ? undefined : pluginType(current.action_type ?? '');
    // any write seals what a row from before sealing still holds in plain text
    if (body.action === undefined && inlineType && hasPlainSecrets(inlineType, current.action_config)) {
      Object.assign(fields, { actionPluginId: null, actionType: inlineType.id, actionConfig: await sealPluginConfig(c, inlineType, current.action_config) });
    }
    let transition: ReturnType<typeof transitionOf> = null;
    const row = await changeConfig(c, tenantId, async () => {
      const row = await updateSubscription(c.var.db, tenantId, subscriptionId, fields, expected);
      if (!row) throw changedMeanwhile();
      transition = transitionOf(row.previous_status, row.status);
      await recordAudit(c.var.db, {
        tenantId,
        actor: actorOf(c.get('principal')),
        action: transition ? `subscription.${transition}` : 'subscription.updated',
        target: subscriptionId,
        details: { fields: Object.keys(body) },
      });
      const { previous_status: _previous, ...updated } = row;
      return updated;
    });
    if (transition) await announceTransition(c.env, c.var.db, tenantId, subscriptionId, transition);
    return c.json(present(row), 200, { etag: etag(row.id, row.version) });
  });

  app.openapi(routes.remove, async (c) => {
    const { tenantId, subscriptionId } = c.req.valid('param');
    await loadTenant(c, tenantId);
    await changeConfig(c, tenantId, async () => {
      if (!(await deleteSubscription(c.var.db, tenantId, subscriptionId))) throw notFound(subscriptionId);
      await recordAudit(c.var.db, { tenantId, actor: actorOf(c.get('principal')), action: 'subscription.deleted', target: subscriptionId });
    });
    return c.body(null, 204);
  });
}
