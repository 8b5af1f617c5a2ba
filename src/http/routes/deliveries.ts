import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { recordAudit } from '../../db/audit';
import { actorOf } from '../../tenancy/principal';
import { findDelivery, listDeliveries, reopenDelivery } from '../../db/deliveries-view';
import { deliveryOwner } from '../../db/listeners';
import { problem, ProblemError } from '../../lib/problem';
import type { DeliveryMessage } from '../../lib/queue-messages';
import { laneQueue } from '../../delivery/lanes';
import { PRIORITIES } from '../../lib/priority';
import type { AppEnv } from '../context';
import { CURSOR, decodeCursor, encodeCursor, idParam, json, PageQuery, problemResponses, TenantParam, Timestamp } from '../schemas';
import { loadTenant } from '../tenant-access';
import { registerDeliveryRetries } from './delivery-retries';

/** `scheduled`: waiting for its first attempt's time (README "Delayed delivery"). */
const DELIVERY_STATUSES = ['pending', 'scheduled', 'delivered', 'failed', 'skipped'] as const;

const Delivery = z
  .object({
    id: z.string(),
    subscription_id: z.string(),
    event_id: z.string(),
    event_sequence: z.number(),
    status: z.enum(DELIVERY_STATUSES),
    scheduled_for: z.string().nullable().describe('a delayed delivery: when its first attempt may start (deliverat, delay_seconds)'),
    attempts: z.number(),
    last_status: z.number().nullable(),
    last_error: z.string().nullable(),
    next_attempt_at: z.string().nullable(),
    replay_id: z.string().nullable(),
    priority: z.enum(PRIORITIES).openapi({ description: "the lane it travels on: the event's priority, else the subscription's default, else normal" }),
    created_at: z.string(),
    updated_at: z.string(),
    finished_at: z.string().nullable(),
  })
  .openapi('Delivery');
const Attempt = z
  .object({
    attempt: z.number(),
    started_at: z.string(),
    latency_ms: z.number(),
    outcome: z.string(),
    status_code: z.number().nullable(),
    error: z.string().nullable(),
    response_body: z.string().nullable(),
    request: z
      .object({
        method: z.string(),
        url: z.string().describe('the URL requested, configured secret values masked'),
        headers: z
          .record(z.string(), z.string())
          .describe('headers as sent: at most 50, values cut at 1 KiB; configured secret values are `********`, Standard Webhooks signature headers are kept'),
        body: z.string().nullable().describe('the body as sent, its first 16 KiB; null when it was a stream'),
        body_truncated: z.boolean(),
      })
      .nullable()
      .describe('the request as sent; null when the attempt sent none (a transformer failed, the destination was refused) or predates its recording')
      .openapi('DeliveryAttemptRequest'),
    response: z
      .object({
        status: z.number().nullable().describe('null when no answer came (network error, timeout)'),
        headers: z.record(z.string(), z.string()).nullable().describe('at most 50, values cut at 1 KiB; null when none came or not recorded'),
        body: z.string().nullable().describe('the first 1 KiB'),
        body_truncated: z.boolean(),
      })
      .openapi('DeliveryAttemptResponse'),
  })
  .openapi('DeliveryAttempt');

const Params = TenantParam.extend({ deliveryId: idParam('dlv', 'deliveryId') });
const sec = [{ bearer: [] }];

const routes = {
  list: createRoute({
    method: 'get',
    path: '/v1/tenants/{tenantId}/deliveries',
    tags: ['deliveries'],
    security: sec,
    summary: 'List deliveries',
    request: {
      params: TenantParam,
      query: PageQuery.extend({
        status: z.enum(DELIVERY_STATUSES).optional(),
        subscription_id: z.string().optional(),
        event_id: z.string().optional(),
        after: Timestamp.optional(),
        before: Timestamp.optional(),
      }),
    },
    responses: {
      200: { description: 'A page', ...json(z.object({ data: z.array(Delivery), next_cursor: z.string().nullable() })) },
      ...problemResponses(400, 401, 404, 422),
    },
  }),
  get: createRoute({
    method: 'get',
    path: '/v1/tenants/{tenantId}/deliveries/{deliveryId}',
    tags: ['deliveries'],
    security: sec,
    summary: 'Read a delivery with its attempts',
    request: { params: Params },
    responses: { 200: { description: 'The delivery', ...json(Delivery.extend({ attempt_log: z.array(Attempt) })) }, ...problemResponses(401, 404) },
  }),
  retry: createRoute({
    method: 'post',
    path: '/v1/tenants/{tenantId}/deliveries/{deliveryId}/retry',
    tags: ['deliveries'],
    security: sec,
    summary: 'Send a finished delivery again, with a fresh retry schedule',
    request: { params: Params },
    responses: { 202: { description: 'Queued', ...json(z.object({ id: z.string(), status: z.literal('pending') })) }, ...problemResponses(401, 404, 409, 410) },
  }),
};

export function registerDeliveries(app: OpenAPIHono<AppEnv>): void {
  registerDeliveryRetries(app);
  app.openapi(routes.list, async (c) => {
    const { tenantId } = c.req.valid('param');
    await loadTenant(c, tenantId);
    const q = c.req.valid('query');
    const rows = await listDeliveries(c.var.db, tenantId, {
      status: q.status,
      subscriptionId: q.subscription_id,
      eventId: q.event_id,
      after: q.after,
      before: q.before,
      afterId: decodeCursor(q.cursor, CURSOR.id('dlv')),
      limit: q.limit + 1,
    });
    const page = rows.slice(0, q.limit);
    return c.json({ data: page, next_cursor: rows.length > q.limit ? encodeCursor(page.at(-1)!.id) : null }, 200);
  });

  app.openapi(routes.get, async (c) => {
    const { tenantId, deliveryId } = c.req.valid('param');
    await loadTenant(c, tenantId);
    const found = await findDelivery(c.var.db, tenantId, deliveryId);
    if (!found) throw new ProblemError(problem(404, 'delivery_not_found', `no delivery ${deliveryId}`));
    const { partition_key: _key, ...view } = found;
    return c.json(view, 200);
  });

  app.openapi(routes.retry, async (c) => {
    const { tenantId, deliveryId } = c.req.valid('param');
    await loadTenant(c, tenantId);
    const owner = await deliveryOwner(c.var.db, tenantId, deliveryId);
    if (owner === null) throw new ProblemError(problem(404, 'delivery_not_found', `no delivery ${deliveryId}`));
    // nothing could send these again: a listener's forwards run on the developer's machine, and a deleted subscription has no action
    if (owner === 'listener')
      throw new ProblemError(
        problem(
          409,
          'listener_delivery_not_retryable',
          'this delivery belongs to a listener: switchyard listen forwards it, the server cannot reach its machine',
        ),
      );
    if (owner === 'gone') throw new ProblemError(problem(409, 'subscription_deleted', "this delivery's subscription was deleted; nothing can send it again"));
    const reopened = await reopenDelivery(c.var.db, tenantId, deliveryId);
    if (reopened === null) throw new ProblemError(problem(404, 'delivery_not_found', `no delivery ${deliveryId}`));
    if (reopened === 'busy')
      throw new ProblemError(problem(409, 'delivery_in_progress', 'the delivery is still pending or scheduled; it will be attempted on its schedule'));
    if (reopened === 'expired')
      throw new ProblemError(
        problem(410, 'event_expired', "the delivery's event is past the tenant's retention; replay it from the archive (POST /replays with from/to) instead"),
      );
    // an operator's retry goes out at once, outside any ordered line
    const message: DeliveryMessage = {
      type: 'delivery.v1',
      tenant_id: tenantId,
      delivery_id: deliveryId,
      subscription_id: reopened.subscription_id,
      partition_key: null,
      priority: reopened.priority,
      event_received_at: reopened.event_received_at,
    };
    await laneQueue(c.env, reopened.priority).send(message, { contentType: 'json' });
    await recordAudit(c.var.db, { tenantId, actor: actorOf(c.get('principal')), action: 'delivery.retried', target: deliveryId });
    return c.json({ id: deliveryId, status: 'pending' as const }, 202);
  });
}
