/**
 * Bulk retry: `POST /v1/tenants/{t}/deliveries/retry` starts a job over the tenant's deliveries that
 * match a filter (failed ones by default, or pending ones to send now), worked off in pages by the
 * queue consumer (src/queues/retry-step.ts); `GET …/deliveries/retry/{id}` shows its progress.
 */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { recordAudit } from '../../db/audit';
import { countRunningRetries, findRetry, insertRetry, RUNNING_RETRIES_LIMIT, type RetryRow } from '../../db/delivery-retries';
import { LISTENER_ACTION_TYPE } from '../../db/listeners';
import { findSubscription } from '../../db/subscriptions';
import { newId } from '../../lib/ids';
import { problem, ProblemError } from '../../lib/problem';
import type { RetryMessage } from '../../lib/queue-messages';
import { actorOf } from '../../tenancy/principal';
import type { AppEnv } from '../context';
import { idParam, json, problemResponses, TenantParam, Timestamp } from '../schemas';
import { loadTenant } from '../tenant-access';

const Retry = z
  .object({
    id: z.string(),
    kind: z.enum(['retry', 'resume']).openapi({ description: 'resume: the release of a resumed subscription’s held deliveries' }),
    status: z.enum(['running', 'completed', 'failed']),
    filter: z.object({
      status: z.enum(['failed', 'pending']),
      subscription_id: z.string().optional(),
      since: z.string().optional(),
      until: z.string().optional(),
    }),
    matched: z.number().openapi({ description: 'deliveries the filter matched when the job started' }),
    retried: z.number().openapi({ description: 'sent again so far' }),
    skipped: z
      .number()
      .openapi({ description: 'matched but not sent: deleted, disabled or listener subscriptions; pending ones a pause holds or a consumer is attempting' }),
    error: z.string().nullable(),
    created_at: z.string(),
    completed_at: z.string().nullable(),
  })
  .openapi('DeliveryRetry');

const RetryRequest = z.strictObject({
  status: z.enum(['failed', 'pending']).default('failed').openapi({ description: 'failed: put back to pending with a fresh schedule; pending: attempt now' }),
  subscription_id: z.string().max(64).optional(),
  since: Timestamp.optional().openapi({ description: 'deliveries created at or after' }),
  until: Timestamp.optional().openapi({ description: 'deliveries created before' }),
});

const present = ({ tenant_id: _t, ...r }: RetryRow) => r;
const sec = [{ bearer: [] }];

const routes = {
  create: createRoute({
    method: 'post',
    path: '/v1/tenants/{tenantId}/deliveries/retry',
    tags: ['deliveries'],
    security: sec,
    summary: 'Retry many deliveries at once (failed by default), by subscription and creation time; poll the job for progress',
    request: {
      params: TenantParam,
      body: {
        required: false,
        ...json(RetryRequest),
      },
    },
    responses: { 202: { description: 'Started (Location: the job)', ...json(Retry) }, ...problemResponses(401, 404, 409, 422) },
  }),
  get: createRoute({
    method: 'get',
    path: '/v1/tenants/{tenantId}/deliveries/retry/{retryId}',
    tags: ['deliveries'],
    security: sec,
    summary: 'A bulk retry and its progress',
    request: { params: TenantParam.extend({ retryId: idParam('rty', 'retryId') }) },
    responses: { 200: { description: 'The job', ...json(Retry) }, ...problemResponses(401, 404) },
  }),
};

const invalid = (code: string, detail: string, pointer: string) => new ProblemError(problem(422, code, detail, { errors: [{ pointer, detail }] }));

export function registerDeliveryRetries(app: OpenAPIHono<AppEnv>): void {
  app.openapi(routes.create, async (c) => {
    const { tenantId } = c.req.valid('param');
    await loadTenant(c, tenantId);
    // no body (or `{}`): every failed delivery
    const { status = 'failed', subscription_id, since, until }: Partial<z.infer<typeof RetryRequest>> = c.req.valid('json') ?? {};
    const body = { status, subscription_id, since, until };
    if (body.since && body.until && Date.parse(body.since) >= Date.parse(body.until))
      throw new ProblemError(
        problem(422, 'validation_failed', 'the request body is invalid', { errors: [{ pointer: '/until', detail: 'until must be later than since' }] }),
      );
    if (body.subscription_id) {
      const subscription = await findSubscription(c.var.db, tenantId, body.subscription_id);
      if (!subscription) throw invalid('subscription_not_found', `no subscription ${body.subscription_id}`, '/subscription_id');
      if (subscription.action_type === LISTENER_ACTION_TYPE)
        throw invalid(
          'listener_delivery_not_retryable',
          'the subscription is a listener: switchyard listen forwards its deliveries, the server cannot',
          '/subscription_id',
        );
    }
    if ((await countRunningRetries(c.var.db, tenantId)) >= RUNNING_RETRIES_LIMIT)
      throw new ProblemError(problem(409, 'limit_reached', `a tenant may run at most ${RUNNING_RETRIES_LIMIT} bulk retries at once; wait for one to complete`));
    const filter = JSON.parse(JSON.stringify(body)) as typeof body;
    const job = await insertRetry(c.var.db, newId('rty'), tenantId, 'retry', filter);
    await c.env.DELIVERY_QUEUE.send({ type: 'retry.v1', tenant_id: tenantId, retry_id: job.id } satisfies RetryMessage, { contentType: 'json' });
    await recordAudit(c.var.db, { tenantId, actor: actorOf(c.get('principal')), action: 'delivery.bulk_retry_started', target: job.id, details: { filter } });
    return c.json(present(job), 202, { location: `/v1/tenants/${tenantId}/deliveries/retry/${job.id}` });
  });

  app.openapi(routes.get, async (c) => {
    const { tenantId, retryId } = c.req.valid('param');
    await loadTenant(c, tenantId);
    const job = await findRetry(c.var.db, tenantId, retryId);
    if (!job) throw new ProblemError(problem(404, 'retry_not_found', `no bulk retry ${retryId}`));
    return c.json(present(job), 200);
  });
}
