/** GET /v1/tenants/{t}/subscriptions/{id}/health: how a subscription's endpoint has been doing. */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { findSubscription, SUBSCRIPTION_STATUSES, type SubscriptionRow } from '../../db/subscriptions';
import { breakerState } from '../../delivery/breaker';
import { HEALTH_MAX_ATTEMPTS, HEALTH_WINDOWS, subscriptionHealth, type HealthWindow } from '../../db/subscription-health';
import { problem, ProblemError } from '../../lib/problem';
import type { AppEnv } from '../context';
import { idParam, json, problemResponses, TenantParam } from '../schemas';
import { loadTenant } from '../tenant-access';

export const Breaker = z
  .object({
    state: z.enum(['closed', 'open', 'half_open']),
    opened_at: z.string().nullable(),
    next_probe_at: z.string().nullable(),
  })
  .openapi('CircuitBreaker', { description: 'closed: attempted; open: deliveries wait after failure_threshold failures in a row; half_open: a probe is out' });

/** A subscription's circuit breaker as the API shows it. */
export const breakerView = (s: SubscriptionRow) => ({ state: breakerState(s), opened_at: s.breaker_opened_at, next_probe_at: s.breaker_probe_at });

const WINDOWS = Object.keys(HEALTH_WINDOWS) as [HealthWindow, ...HealthWindow[]];

const Health = z
  .object({
    subscription_id: z.string(),
    status: z.enum(SUBSCRIPTION_STATUSES),
    window: z.enum(WINDOWS),
    since: z.string(),
    until: z.string(),
    attempts: z.number().openapi({ description: 'attempts that reached the endpoint in the window (transformer skips left out)' }),
    delivered: z.number(),
    failed: z.number(),
    success_rate: z.number().nullable().openapi({ description: 'delivered / attempts, null without attempts' }),
    latency_ms: z.object({ p50: z.number().nullable(), p95: z.number().nullable() }),
    consecutive_failures: z.number(),
    breaker: Breaker,
    last_success_at: z.string().nullable(),
    last_failure_at: z.string().nullable(),
    bucket: z.enum(['minute', 'hour']),
    series: z.array(z.object({ bucket: z.string(), delivered: z.number(), failed: z.number() })),
    truncated: z.boolean().openapi({ description: `true when the window held more than ${HEALTH_MAX_ATTEMPTS} attempts: the numbers cover the newest ones` }),
  })
  .openapi('SubscriptionHealth');

const route = createRoute({
  method: 'get',
  path: '/v1/tenants/{tenantId}/subscriptions/{subscriptionId}/health',
  tags: ['subscriptions'],
  security: [{ bearer: [] }],
  summary: "The endpoint's health: success rate, latency percentiles, failures and a per-minute or per-hour series",
  request: {
    params: TenantParam.extend({ subscriptionId: idParam('sub', 'subscriptionId') }),
    query: z.object({ window: z.enum(WINDOWS).default('24h').openapi({ description: '1h (per-minute series), 24h or 7d (per-hour series)' }) }),
  },
  responses: { 200: { description: 'Health over the window', ...json(Health) }, ...problemResponses(401, 404, 422) },
});

export function registerSubscriptionHealth(app: OpenAPIHono<AppEnv>): void {
  app.openapi(route, async (c) => {
    const { tenantId, subscriptionId } = c.req.valid('param');
    const { window } = c.req.valid('query');
    await loadTenant(c, tenantId);
    const subscription = await findSubscription(c.var.db, tenantId, subscriptionId);
    if (!subscription) throw new ProblemError(problem(404, 'subscription_not_found', `no subscription ${subscriptionId}`));
    const h = await subscriptionHealth(c.var.db, tenantId, subscriptionId, window);
    return c.json(
      {
        subscription_id: subscriptionId,
        status: subscription.status,
        window,
        since: h.since,
        until: h.until,
        attempts: h.attempts,
        delivered: h.delivered,
        failed: h.failed,
        success_rate: h.attempts === 0 ? null : Math.round((h.delivered / h.attempts) * 10_000) / 10_000,
        latency_ms: { p50: h.p50, p95: h.p95 },
        consecutive_failures: h.consecutive_failures,
        breaker: breakerView(subscription),
        last_success_at: h.last_success_at,
        last_failure_at: h.last_failure_at,
        bucket: HEALTH_WINDOWS[window].bucket,
        series: h.series,
        truncated: h.truncated,
      },
      200,
    );
  });
}
