/**
 * A tenant's ingest and delivery health over a window: events accepted (stored in the window) and
 * refused by problem code, deliveries created in the window by status with their accepted-to-delivered
 * latency (replays excluded), breakdowns by event type and by subscription (bounded), and the backlog right now (pending deliveries, the TenantLog's outbox
 * and staged queue messages).
 * GET …/metrics/series: the same figures per bucket over 1h, 24h or 7d, for charts.
 */
import { tenantLogStatus } from '../../ingest/shard-status';
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { RATE_LIMIT_BYPASSED } from '../../ingest/rejections';
import { BREAKDOWN_LIMIT, tenantMetrics } from '../../db/metrics';
import { bucketSeconds, SERIES_MAX_ATTEMPTS, SERIES_WINDOWS, type SeriesWindow, tenantMetricsSeries } from '../../db/metrics-series';
import type { LogStatus } from '../../ingest/log-types';
import { outboxLagSeconds } from '../../observability/scrape';
import type { AppEnv } from '../context';
import { problemResponses, TenantParam } from '../schemas';
import { loadTenant } from '../tenant-access';

const UNIT_SECONDS: ReadonlyMap<string, number> = new Map([
  ['m', 60],
  ['h', 3600],
  ['d', 86_400],
]);
const MAX_WINDOW_SECONDS = 30 * 86_400;

const Window = z
  .string()
  .regex(/^[1-9]\d{0,4}[mhd]$/, 'a number and a unit: 15m, 1h, 7d')
  .refine((w) => windowSeconds(w) <= MAX_WINDOW_SECONDS, 'at most 30d')
  .default('1h')
  .openapi({ example: '1h' });

export function windowSeconds(window: string): number {
  return Number(window.slice(0, -1)) * (UNIT_SECONDS.get(window.at(-1) ?? '') ?? Number.NaN);
}

const Metrics = z
  .object({
    window: z.string(),
    from: z.string(),
    to: z.string(),
    events: z.object({
      accepted: z.number().int().openapi({ description: 'stored events received in the window (duplicates not counted)' }),
      rejected: z.object({
        total: z.number().int(),
        by_reason: z.record(z.string(), z.number().int()).openapi({ example: { invalid_signature: 3, rate_limited: 12 } }),
      }),
      rate_limit_bypassed: z.number().int().openapi({
        description:
          'ingest requests over a rate limit that went through because every event in them had priority critical (counted in the limit all the same)',
      }),
      by_type: z
        .object({
          top: z.array(z.object({ type: z.string(), count: z.number().int() })),
          other: z.object({ types: z.number().int(), count: z.number().int() }),
        })
        .openapi({ description: `accepted events by type: the ${BREAKDOWN_LIMIT} most frequent (most first), the rest summed in \`other\`` }),
      quarantined: z.number().int().openapi({
        description: 'acknowledged events received in the window that Postgres refused; listed by GET …/quarantine (plus any the TenantLog holds itself)',
      }),
    }),
    deliveries: z.object({
      by_status: z.record(z.string(), z.number().int()).openapi({ example: { delivered: 120, pending: 2, failed: 1 } }),
      latency_ms: z
        .object({ p50: z.number().nullable(), p95: z.number().nullable() })
        .openapi({ description: 'accepted to delivered, delivered deliveries only' }),
      by_subscription: z
        .object({
          top: z.array(z.object({ subscription_id: z.string(), by_status: z.record(z.string(), z.number().int()) })),
          other: z.object({ subscriptions: z.number().int(), by_status: z.record(z.string(), z.number().int()) }),
        })
        .openapi({
          description: `deliveries created in the window by subscription and status: the ${BREAKDOWN_LIMIT} busiest subscriptions, the rest summed in \`other\``,
        }),
    }),
    backlog: z.object({
      pending_deliveries: z.number().int(),
      outbox: z.number().int().openapi({ description: 'accepted events not yet stored in Postgres' }),
      outbox_lag_seconds: z
        .number()
        .openapi({ description: 'how long ago the oldest of those events was accepted (0 when none waits): how far storage is behind acceptance' }),
      dispatch: z.number().int().openapi({ description: 'deliveries staged for the queue' }),
    }),
  })
  .openapi('TenantMetrics');

const route = createRoute({
  method: 'get',
  path: '/v1/tenants/{tenantId}/metrics',
  tags: ['metrics'],
  security: [{ bearer: [] }],
  summary: 'Ingest and delivery metrics over a window',
  request: { params: TenantParam, query: z.object({ window: Window }) },
  responses: { 200: { description: 'Metrics', content: { 'application/json': { schema: Metrics } } }, ...problemResponses(401, 403, 404, 422) },
});

const SERIES_WINDOW_NAMES = Object.keys(SERIES_WINDOWS) as [SeriesWindow, ...SeriesWindow[]];

const SeriesPoint = z.object({
  at: z.string().openapi({ description: 'start of the bucket (UTC)' }),
  events_accepted: z.number().int().openapi({ description: 'events stored that were received in the bucket' }),
  rejected: z.record(z.string(), z.number().int()).openapi({ description: 'refused ingest requests by problem code', example: { rate_limited: 4 } }),
  deliveries_delivered: z.number().int().openapi({ description: 'deliveries created in the bucket that are now delivered' }),
  deliveries_failed: z.number().int().openapi({ description: 'deliveries created in the bucket that are now failed' }),
  attempts: z.number().int().openapi({ description: 'attempts started in the bucket that reached an endpoint (transformer skips left out)' }),
  success_ratio: z.number().nullable().openapi({ description: 'successful attempts / attempts, null without attempts' }),
  latency_ms: z.object({ p50: z.number().nullable(), p95: z.number().nullable() }).openapi({ description: "attempts' request-to-response latency" }),
});

const Series = z
  .object({
    window: z.enum(SERIES_WINDOW_NAMES),
    bucket_seconds: z.number().int().openapi({ description: '60 for 1h, 3600 for 24h and 7d' }),
    from: z.string().openapi({ description: 'start of the first bucket' }),
    to: z.string(),
    series: z.array(SeriesPoint).openapi({ description: 'one point per bucket, oldest first, empty buckets included' }),
    truncated: z.boolean().openapi({
      description: `true when the window held more than ${SERIES_MAX_ATTEMPTS} attempts: the attempt figures cover the newest ones`,
    }),
  })
  .openapi('TenantMetricsSeries');

const seriesRoute = createRoute({
  method: 'get',
  path: '/v1/tenants/{tenantId}/metrics/series',
  tags: ['metrics'],
  security: [{ bearer: [] }],
  summary: 'Ingest and delivery metrics over time, per minute (1h) or per hour (24h, 7d)',
  request: {
    params: TenantParam,
    query: z.object({
      window: z.enum(SERIES_WINDOW_NAMES).default('24h').openapi({ description: '1h (per-minute buckets), 24h or 7d (per-hour buckets)' }),
    }),
  },
  responses: { 200: { description: 'Metrics series', content: { 'application/json': { schema: Series } } }, ...problemResponses(401, 403, 404, 422) },
});

const round = (ms: number | null) => (ms === null ? null : Math.round(ms * 10) / 10);

export function registerMetrics(app: OpenAPIHono<AppEnv>): void {
  app.openapi(route, async (c) => {
    const { tenantId } = c.req.valid('param');
    const { shard_span: shards } = await loadTenant(c, tenantId);
    const { window } = c.req.valid('query');
    const seconds = windowSeconds(window);
    const to = new Date();
    const [row, log] = await Promise.all([
      tenantMetrics(c.var.db, tenantId, seconds),
      tenantLogStatus(c.env, tenantId, shards).catch(
        (): Pick<LogStatus, 'outboxDepth' | 'oldestOutboxAt' | 'dispatchDepth' | 'quarantined'> => ({
          outboxDepth: 0,
          oldestOutboxAt: null,
          dispatchDepth: 0,
          quarantined: 0,
        }),
      ),
    ]);
    const { [RATE_LIMIT_BYPASSED]: bypassed = 0, ...refused } = row.rejected;
    const rejected = Object.values(refused).reduce((a, b) => a + b, 0);
    return c.json(
      {
        window,
        from: new Date(to.getTime() - seconds * 1000).toISOString(),
        to: to.toISOString(),
        events: {
          accepted: row.accepted,
          rejected: { total: rejected, by_reason: refused },
          rate_limit_bypassed: bypassed,
          by_type: { top: row.by_type, other: row.other_types },
          quarantined: row.quarantined + log.quarantined,
        },
        deliveries: {
          by_status: row.deliveries,
          latency_ms: { p50: round(row.p50_ms), p95: round(row.p95_ms) },
          by_subscription: { top: row.by_subscription, other: row.other_subscriptions },
        },
        backlog: {
          pending_deliveries: row.pending,
          outbox: log.outboxDepth,
          outbox_lag_seconds: outboxLagSeconds(log.oldestOutboxAt, to.getTime()),
          dispatch: log.dispatchDepth,
        },
      },
      200,
    );
  });

  app.openapi(seriesRoute, async (c) => {
    const { tenantId } = c.req.valid('param');
    await loadTenant(c, tenantId);
    const { window } = c.req.valid('query');
    const row = await tenantMetricsSeries(c.var.db, tenantId, window);
    return c.json({ window, bucket_seconds: bucketSeconds(window), from: row.from, to: row.to, series: row.series, truncated: row.truncated }, 200);
  });
}
