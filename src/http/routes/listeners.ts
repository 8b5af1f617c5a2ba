/**
 * Listeners: what `switchyard listen` registers so its local forwards show up as deliveries and
 * attempts. A listener is a subscription with action `{type: "cli"}` (scope `subscriptions`), found
 * again by name; the fan-out and the queue never run it, the CLI pulls events from the live stream and
 * reports each forward here.
 */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { recordAudit } from '../../db/audit';
import { transaction } from '../../db/client';
import {
  deleteListener,
  findListenerByName,
  listListeners,
  MAX_LISTENER_ATTEMPTS,
  recordListenerAttempt,
  upsertListener,
  type ListenerRow,
} from '../../db/listeners';
import { deliveryId } from '../../delivery/fan-out';
import { compileFilter } from '../../delivery/filter';
import { newId } from '../../lib/ids';
import { problem, ProblemError } from '../../lib/problem';
import { open, seal } from '../../lib/secret-box';
import { TypePatternSchema } from '../../lib/type-pattern';
import { RESPONSE_BODY_LIMIT_BYTES, truncateBody } from '../../plugins/kit/classify';
import { newWhsecSecret } from '../../plugins/kit/signing';
import { actorOf } from '../../tenancy/principal';
import type { AppEnv } from '../context';
import { CURSOR, decodeCursor, encodeCursor, idParam, idPattern, json, PageQuery, problemResponses, TenantParam, Timestamp } from '../schemas';
import { formatStreamCursor } from '../stream-cursor';
import { streamShardCount } from '../stream-mux';
import { loadTenant } from '../tenant-access';
import { assertBelowLimit, assertFilterSize } from '../tenant-limits';

const Listener = z
  .object({
    id: z.string().openapi({ example: 'sub_01JD9Y3W8N5R2T6V4X7Z0A1B2C' }),
    name: z.string(),
    types: z.array(z.string()),
    where: z.unknown().nullable(),
    last_sequence: z.number().openapi({
      description: 'highest event sequence the listener reported an attempt for (0: none); on a tenant with one shard, resume after it',
    }),
    cursor: z.string().openapi({
      description:
        "where to resume the live stream (`since_sequence`): per shard the last sequence the listener reported, as the stream's comma list in shard order (shards never reported left out); `0` when none",
      example: '120,10000000000042',
    }),
    created_at: z.string(),
  })
  .openapi('Listener');
const ListenerWithSecret = Listener.extend({
  secret: z.string().openapi({ description: 'whsec_ secret the CLI signs its local forwards with', example: 'whsec_…' }),
}).openapi('ListenerWithSecret');

const ListenerBody = z.strictObject({
  name: z.string().min(1).max(64).default('cli').openapi({ description: 'the listener to create or update', example: 'cli' }),
  types: z
    .array(TypePatternSchema)
    .min(1)
    .max(50)
    .default(['**'])
    .openapi({ example: ['orders.*'] }),
  where: z
    .record(z.string(), z.unknown())
    .nullable()
    .optional()
    .openapi({ description: 'Mongo-style filter over the CloudEvent', example: { 'data.amount': { $gt: 100 } } }),
});

const AttemptBody = z.strictObject({
  event_id: z.string().regex(idPattern('evt'), 'an evt_ id').openapi({ example: 'evt_01JD9Y3W8N5R2T6V4X7Z0A1B2C' }),
  sequence: z.int().min(1).openapi({ description: "the event's sequence, as the stream sent it" }),
  partition_key: z.string().max(1024).optional(),
  outcome: z.enum(['delivered', 'failed']),
  status_code: z.int().min(100).max(599).optional().openapi({ description: 'what the local endpoint answered; absent when it did not answer' }),
  latency_ms: z.int().min(0).max(86_400_000),
  error: z
    .string()
    .optional()
    .openapi({ description: `kept up to ${RESPONSE_BODY_LIMIT_BYTES} bytes` }),
  response_body: z
    .string()
    .optional()
    .openapi({ description: `kept up to ${RESPONSE_BODY_LIMIT_BYTES} bytes` }),
  started_at: Timestamp.optional().openapi({ description: 'when the forward started; default: now minus latency_ms' }),
});
const Recorded = z.object({ delivery_id: z.string(), attempt: z.number(), status: z.enum(['delivered', 'failed']) }).openapi('ListenerAttemptRecorded');

const Params = TenantParam.extend({ listenerId: idParam('sub', 'listenerId') });
const sec = [{ bearer: [] }];

const routes = {
  put: createRoute({
    method: 'post',
    path: '/v1/tenants/{tenantId}/listeners',
    tags: ['listeners'],
    security: sec,
    summary: 'Create a listener, or replace the filter of the one with that name',
    request: { params: TenantParam, body: { required: true, ...json(ListenerBody) } },
    responses: {
      201: { description: 'Created', ...json(ListenerWithSecret) },
      200: { description: 'A listener of that name existed; its types and where are replaced', ...json(ListenerWithSecret) },
      ...problemResponses(401, 403, 404, 409, 422),
    },
  }),
  list: createRoute({
    method: 'get',
    path: '/v1/tenants/{tenantId}/listeners',
    tags: ['listeners'],
    security: sec,
    summary: 'List listeners',
    request: { params: TenantParam, query: PageQuery },
    responses: {
      200: { description: 'A page', ...json(z.object({ data: z.array(Listener), next_cursor: z.string().nullable() })) },
      ...problemResponses(400, 401, 403, 404),
    },
  }),
  remove: createRoute({
    method: 'delete',
    path: '/v1/tenants/{tenantId}/listeners/{listenerId}',
    tags: ['listeners'],
    security: sec,
    summary: 'Delete a listener; its deliveries stay',
    request: { params: Params },
    responses: { 204: { description: 'Deleted' }, ...problemResponses(401, 403, 404) },
  }),
  attempt: createRoute({
    method: 'post',
    path: '/v1/tenants/{tenantId}/listeners/{listenerId}/attempts',
    tags: ['listeners'],
    security: sec,
    summary: "Report one local forward: the first report of an event creates the listener's delivery, later ones add attempts",
    request: { params: Params, body: { required: true, ...json(AttemptBody) } },
    responses: { 201: { description: 'Recorded', ...json(Recorded) }, ...problemResponses(401, 403, 404, 409, 422) },
  }),
};

/** The stream's resume list of the listener's positions; shards the tenant's stream no longer reads are left out (it would refuse them). */
function listenerCursor(positions: ListenerRow['positions'], shards: number): string {
  const cursor = new Map<number, number>();
  for (const [shard, sequence] of Object.entries(positions)) if (Number(shard) < shards) cursor.set(Number(shard), Number(sequence));
  return formatStreamCursor(cursor);
}

/** `shards`: how many shards the tenant's stream reads (streamShardCount). */
const present = (l: ListenerRow, shards: number) => ({
  id: l.id,
  name: l.name,
  types: l.types,
  where: l.filter ?? null,
  last_sequence: l.last_sequence,
  cursor: listenerCursor(l.positions, shards),
  created_at: l.created_at,
});
const notFound = (id: string) => new ProblemError(problem(404, 'listener_not_found', `no listener ${id}`));

export function registerListeners(app: OpenAPIHono<AppEnv>): void {
  app.openapi(routes.put, async (c) => {
    const { tenantId } = c.req.valid('param');
    const tenant = await loadTenant(c, tenantId);
    const body = c.req.valid('json');
    if (body.where != null) {
      assertFilterSize(body.where);
      const compiled = compileFilter(body.where);
      if (!compiled.ok)
        throw new ProblemError(
          problem(422, 'invalid_filter', 'the where filter is invalid', { errors: compiled.errors.map((e) => ({ ...e, pointer: `/where${e.pointer}` })) }),
        );
    }
    const db = c.var.db;
    const sealed = { id: newId('sec'), ciphertext: await seal(c.env.ENCRYPTION_KEY, newWhsecSecret()) };
    const saved = await transaction(db, async () => {
      if (!(await findListenerByName(db, tenantId, body.name))) await assertBelowLimit(db, tenantId, 'subscriptions');
      const saved = await upsertListener(db, newId('sub'), tenantId, { name: body.name, types: body.types, filter: body.where ?? null }, sealed);
      await recordAudit(db, {
        tenantId,
        actor: actorOf(c.get('principal')),
        action: saved.created ? 'listener.created' : 'listener.updated',
        target: saved.row.id,
        details: saved.created ? { name: body.name } : { name: body.name, fields: ['types', 'where'] },
      });
      return saved;
    });
    const secret = await open(c.env.ENCRYPTION_KEY, saved.ciphertext);
    return c.json({ ...present(saved.row, streamShardCount(tenant)), secret }, saved.created ? 201 : 200);
  });

  app.openapi(routes.list, async (c) => {
    const { tenantId } = c.req.valid('param');
    const tenant = await loadTenant(c, tenantId);
    const { cursor, limit } = c.req.valid('query');
    const shards = streamShardCount(tenant);
    const rows = await listListeners(c.var.db, tenantId, { afterId: decodeCursor(cursor, CURSOR.id('sub')), limit: limit + 1 });
    const page = rows.slice(0, limit);
    return c.json({ data: page.map((l) => present(l, shards)), next_cursor: rows.length > limit ? encodeCursor(page.at(-1)!.id) : null }, 200);
  });

  app.openapi(routes.remove, async (c) => {
    const { tenantId, listenerId } = c.req.valid('param');
    await loadTenant(c, tenantId);
    const db = c.var.db;
    await transaction(db, async () => {
      if (!(await deleteListener(db, tenantId, listenerId))) throw notFound(listenerId);
      await recordAudit(db, { tenantId, actor: actorOf(c.get('principal')), action: 'listener.deleted', target: listenerId });
    });
    return c.body(null, 204);
  });

  app.openapi(routes.attempt, async (c) => {
    const { tenantId, listenerId } = c.req.valid('param');
    await loadTenant(c, tenantId);
    const body = c.req.valid('json');
    const recorded = await recordListenerAttempt(c.var.db, tenantId, listenerId, {
      deliveryId: await deliveryId(listenerId, body.event_id),
      eventId: body.event_id,
      sequence: body.sequence,
      partitionKey: body.partition_key ?? null,
      outcome: body.outcome,
      statusCode: body.status_code ?? null,
      latencyMs: body.latency_ms,
      error: body.error === undefined ? null : truncateBody(body.error),
      responseBody: body.response_body === undefined ? null : truncateBody(body.response_body),
      startedAt: body.started_at ?? null,
    });
    if (recorded.kind === 'no_listener') throw notFound(listenerId);
    if (recorded.kind === 'attempt_limit') {
      throw new ProblemError(
        problem(409, 'attempt_limit_reached', `a listener delivery records at most ${MAX_LISTENER_ATTEMPTS} attempts; this event has them all`),
      );
    }
    return c.json({ delivery_id: recorded.deliveryId, attempt: recorded.attempt, status: recorded.status }, 201);
  });
}
