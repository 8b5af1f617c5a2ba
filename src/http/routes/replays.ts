import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { recordAudit } from '../../db/audit';
import { actorOf } from '../../tenancy/principal';
import { findReplay, insertReplay, listReplays, type ReplayRow } from '../../db/replays';
import { findSubscription } from '../../db/subscriptions';
import { LISTENER_ACTION_TYPE } from '../../db/listeners';
import { compileFilter } from '../../delivery/filter';
import { problem, ProblemError } from '../../lib/problem';
import { newId } from '../../lib/ids';
import { TypePatternSchema } from '../../lib/type-pattern';
import type { ReplayMessage } from '../../lib/queue-messages';
import type { AppEnv } from '../context';
import { CURSOR, decodeCursor, encodeCursor, idParam, json, PageQuery, problemResponses, TenantParam, Timestamp } from '../schemas';
import { loadTenant } from '../tenant-access';
import { assertBelowLimit, assertFilterSize } from '../tenant-limits';

const Replay = z
  .object({
    id: z.string(),
    subscription_id: z.string().nullable(),
    filter: z.record(z.string(), z.unknown()),
    status: z.enum(['running', 'completed', 'failed']),
    cursor_sequence: z.number(),
    events_matched: z.number(),
    deliveries: z.number(),
    restored_events: z.number().openapi({ description: 'events put back from the archive because retention had removed them' }),
    error: z.string().nullable(),
    created_at: z.string(),
    completed_at: z.string().nullable(),
  })
  .openapi('Replay');

const sec = [{ bearer: [] }];
// cursor_sequence is the progress shown; the position beside it is the walk's own (src/queues/replay-step.ts)
const present = ({ tenant_id: _t, cursor_received_ms: _p, ...r }: ReplayRow) => ({ ...r, filter: r.filter as Record<string, unknown> });

const routes = {
  create: createRoute({
    method: 'post',
    path: '/v1/tenants/{tenantId}/replays',
    tags: ['deliveries'],
    security: sec,
    summary: 'Re-deliver stored events (a time range, types, a filter) to one subscription or to every matching one',
    request: {
      params: TenantParam,
      body: {
        required: true,
        ...json(
          z.strictObject({
            subscription_id: z.string().optional(),
            from: Timestamp.optional().openapi({
              description: 'events received at or after; older than the event retention, the archived events are put back and replayed too',
            }),
            to: Timestamp.optional().openapi({ description: 'events received before' }),
            types: z.array(TypePatternSchema).max(50).optional(),
            where: z.record(z.string(), z.unknown()).optional(),
          }),
        ),
      },
    },
    responses: { 202: { description: 'Started; poll GET replays/{id} for progress', ...json(Replay) }, ...problemResponses(401, 404, 409, 422) },
  }),
  list: createRoute({
    method: 'get',
    path: '/v1/tenants/{tenantId}/replays',
    tags: ['deliveries'],
    security: sec,
    summary: 'Recent replays with their progress',
    request: { params: TenantParam, query: PageQuery.extend({ limit: z.coerce.number().int().min(1).max(100).default(50) }) },
    responses: {
      200: { description: 'Newest first', ...json(z.object({ data: z.array(Replay), next_cursor: z.string().nullable() })) },
      ...problemResponses(400, 401, 404),
    },
  }),
  get: createRoute({
    method: 'get',
    path: '/v1/tenants/{tenantId}/replays/{replayId}',
    tags: ['deliveries'],
    security: sec,
    summary: 'A replay and its progress',
    request: { params: TenantParam.extend({ replayId: idParam('rpl', 'replayId') }) },
    responses: { 200: { description: 'The replay', ...json(Replay) }, ...problemResponses(401, 404) },
  }),
};

export function registerReplays(app: OpenAPIHono<AppEnv>): void {
  app.openapi(routes.create, async (c) => {
    const { tenantId } = c.req.valid('param');
    await loadTenant(c, tenantId);
    const body = c.req.valid('json');
    const target = body.subscription_id ? await findSubscription(c.var.db, tenantId, body.subscription_id) : undefined;
    if (target === null) {
      throw new ProblemError(
        problem(422, 'subscription_not_found', `no subscription ${body.subscription_id}`, {
          errors: [{ pointer: '/subscription_id', detail: 'unknown subscription' }],
        }),
      );
    }
    if (target?.action_type === LISTENER_ACTION_TYPE) {
      // the server never delivers to a listener; the CLI gets past events again with since_sequence
      const detail =
        'the subscription is a listener: switchyard listen forwards its events itself, and the live stream sends past ones again from since_sequence';
      throw new ProblemError(problem(422, 'listener_not_replayable', detail, { errors: [{ pointer: '/subscription_id', detail }] }));
    }
    assertFilterSize(body.where);
    if (body.from && body.to && Date.parse(body.from) >= Date.parse(body.to)) {
      // an empty range would run, match nothing and report success: a typo, not a request
      throw new ProblemError(
        problem(422, 'validation_failed', 'the request body is invalid', { errors: [{ pointer: '/to', detail: 'to must be later than from' }] }),
      );
    }
    const where = compileFilter(body.where);
    if (!where.ok)
      throw new ProblemError(
        problem(422, 'invalid_filter', 'the where filter is invalid', { errors: where.errors.map((e) => ({ ...e, pointer: `/where${e.pointer}` })) }),
      );
    await assertBelowLimit(c.var.db, tenantId, 'running_replays');
    const replay = await insertReplay(c.var.db, newId('rpl'), tenantId, body.subscription_id ?? null, {
      types: body.types,
      where: body.where,
      from: body.from,
      to: body.to,
    });
    await c.env.DELIVERY_QUEUE.send({ type: 'replay.v1', tenant_id: tenantId, replay_id: replay.id } satisfies ReplayMessage, { contentType: 'json' });
    await recordAudit(c.var.db, { tenantId, actor: actorOf(c.get('principal')), action: 'replay.started', target: replay.id });
    return c.json(present(replay), 202);
  });

  app.openapi(routes.list, async (c) => {
    const { tenantId } = c.req.valid('param');
    await loadTenant(c, tenantId);
    const { cursor, limit } = c.req.valid('query');
    const rows = await listReplays(c.var.db, tenantId, limit + 1, decodeCursor(cursor, CURSOR.id('rpl')));
    const page = rows.slice(0, limit);
    return c.json({ data: page.map(present), next_cursor: rows.length > limit ? encodeCursor(page.at(-1)!.id) : null }, 200);
  });

  app.openapi(routes.get, async (c) => {
    const { tenantId, replayId } = c.req.valid('param');
    await loadTenant(c, tenantId);
    const replay = await findReplay(c.var.db, tenantId, replayId);
    if (!replay) throw new ProblemError(problem(404, 'replay_not_found', `no replay ${replayId}`));
    return c.json(present(replay), 200);
  });
}
