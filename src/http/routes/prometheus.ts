/**
 * GET /metrics (admin): Prometheus text (0.0.4), or OpenMetrics when the scrape asks for it. Every
 * figure comes from state the runtime keeps (Postgres running totals, the TenantLogs' status), so any
 * isolate answers the same. Bounded per scrape: SCRAPE_LIMITS.tenants tenants, the most recently active
 * first (db/metric-totals.ts), and per-subscription series for the SCRAPE_LIMITS.subscriptions
 * busiest subscriptions (the rest summed per tenant as subscription="_other"). Past that many tenants,
 * `?part=i/n` splits them into n disjoint parts by a hash of the id, one scrape job each.
 */
import { tenantLogStatus } from '../../ingest/shard-status';
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { metricTotals, type ScrapeLimits, type ScrapePart } from '../../db/metric-totals';
import { CONTENT_TYPES, negotiateFormat, renderExposition } from '../../observability/exposition';
import { scrapeFamilies, type LogFigures } from '../../observability/scrape';
import type { AppEnv } from '../context';
import { database } from '../middleware/database';
import { requireAdmin, requireAuth } from '../middleware/auth';
import { problemResponses } from '../schemas';

export const SCRAPE_LIMITS: ScrapeLimits = { tenants: 100, subscriptions: 300 };
/** Parts the tenants can be split into, one scrape job each. */
const MAX_PARTS = 64;

const PartQuery = z
  .string()
  .regex(/^\d{1,2}\/\d{1,2}$/, 'part is <index>/<parts>, for example 0/4')
  .transform((value): ScrapePart => {
    const [index, of] = value.split('/').map(Number) as [number, number];
    return { index, of };
  })
  .refine((p) => p.of >= 1 && p.of <= MAX_PARTS && p.index < p.of, `part is <index>/<parts> with 1 to ${MAX_PARTS} parts and an index from 0 to parts - 1`)
  .openapi({
    type: 'string',
    example: '0/4',
    description:
      `Only the tenants of this part of <parts> disjoint parts (by a hash of the tenant id), so that <parts> scrape jobs, ` +
      `part=0/<parts> to part=<parts - 1>/<parts>, cover more tenants than one scrape's limit; each part has the limits of a whole scrape.`,
  });

const route = createRoute({
  method: 'get',
  path: '/metrics',
  tags: ['metrics'],
  security: [{ bearer: [] }],
  summary: 'Prometheus / OpenMetrics scrape (admin)',
  request: { query: z.object({ part: PartQuery.optional() }) },
  description:
    `Per tenant: events accepted, ingest refusals by code, deliveries by subscription and final status, pending deliveries, attempt latency histogram, ` +
    `TenantLog outbox depth and lag, dispatch depth, disabled subscriptions. At most ${SCRAPE_LIMITS.tenants} tenants, the most recently active first ` +
    `(by the later of the newest stored event and the tenant's creation), quiet ones included while there is room; subscriptions named for the ${SCRAPE_LIMITS.subscriptions} busiest, the others summed as subscription="_other". ` +
    'Send `Accept: application/openmetrics-text` for OpenMetrics 1.0.',
  responses: {
    200: {
      description: 'Prometheus text exposition format 0.0.4 (or OpenMetrics 1.0 text)',
      content: {
        'text/plain': { schema: z.string().openapi({ example: 'switchyard_ingest_events_total{tenant="tn_01J…"} 42\n' }) },
        'application/openmetrics-text': { schema: z.string() },
      },
    },
    ...problemResponses(401, 403, 422),
  },
});

export function registerPrometheus(app: OpenAPIHono<AppEnv>): void {
  app.use('/metrics', database, requireAuth);
  app.openapi(route, async (c) => {
    requireAdmin(c.var.principal);
    const { part } = c.req.valid('query');
    const totals = await metricTotals(c.var.db, SCRAPE_LIMITS, part);
    const logs = new Map<string, LogFigures>();
    await Promise.all(
      totals.tenants.map(async ({ tenant_id, shards }) => {
        // a TenantLog that does not answer leaves its series out of this scrape rather than failing it; shards are summed
        const status = await tenantLogStatus(c.env, tenant_id, shards).catch(() => null);
        if (status) logs.set(tenant_id, status);
      }),
    );
    const format = negotiateFormat(c.req.header('accept'));
    return c.body(renderExposition(scrapeFamilies(totals, logs, Date.now()), format), 200, { 'content-type': CONTENT_TYPES[format] });
  });
}
