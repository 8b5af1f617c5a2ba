/** A tenant's retention periods: read by the tenant, changed by an admin (README "Retention and archive"). */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { configOf } from '../../config';
import { recordAudit } from '../../db/audit';
import { findRetention, putRetention, type RetentionRow } from '../../db/retention';
import { actorOf } from '../../tenancy/principal';
import type { AppEnv } from '../context';
import { requireAdmin } from '../middleware/auth';
import { json, problemResponses, TenantParam } from '../schemas';
import { loadTenant } from '../tenant-access';

const Days = z.int().min(1).max(3650);
const PERIODS = ['events_days', 'deliveries_days', 'audit_days'] as const;

const Periods = z.object({ events_days: z.number().int(), deliveries_days: z.number().int(), audit_days: z.number().int() });

const Retention = z
  .object({
    events_days: z.number().int().nullable().openapi({ description: "the tenant's own period; null: the deployment's default" }),
    deliveries_days: z.number().int().nullable(),
    audit_days: z.number().int().nullable(),
    effective: Periods.openapi({ description: 'the periods in force: the tenant’s own, or the default' }),
    defaults: Periods.openapi({ description: 'the deployment’s defaults (RETENTION_*_DAYS)' }),
    archived_until: z.string().nullable().openapi({ description: 'every event received before this is in the archive' }),
    updated_at: z.string().nullable(),
  })
  .openapi('Retention');

const periodBody = (what: string) =>
  Days.nullable()
    .optional()
    .openapi({ description: `days ${what} are kept (1..3650); null or absent: the deployment's default`, example: 30 });

const routes = {
  get: createRoute({
    method: 'get',
    path: '/v1/tenants/{tenantId}/retention',
    tags: ['tenants'],
    security: [{ bearer: [] }],
    summary: 'How long the tenant’s events, deliveries and audit entries are kept',
    request: { params: TenantParam },
    responses: { 200: { description: 'The retention periods', ...json(Retention) }, ...problemResponses(401, 403, 404) },
  }),
  put: createRoute({
    method: 'put',
    path: '/v1/tenants/{tenantId}/retention',
    tags: ['tenants'],
    security: [{ bearer: [] }],
    summary: 'Set the tenant’s retention periods (admin)',
    description:
      'Replaces all three periods. Events are archived to R2 before they are deleted, a whole UTC day at a time once the day is older than the period; finished deliveries (with their attempts) and audit entries are deleted once older than theirs. The retention job runs every minute in bounded batches.',
    request: {
      params: TenantParam,
      body: {
        required: true,
        ...json(
          z.strictObject({
            events_days: periodBody('events'),
            deliveries_days: periodBody('finished deliveries and their attempts'),
            audit_days: periodBody('audit entries'),
          }),
        ),
      },
    },
    responses: { 200: { description: 'The retention periods', ...json(Retention) }, ...problemResponses(401, 403, 404, 422) },
  }),
};

export function registerRetention(app: OpenAPIHono<AppEnv>): void {
  const present = (c: { env: Env }, row: RetentionRow) => {
    const d = configOf(c.env).retentionDefaults;
    const defaults = { events_days: d.events, deliveries_days: d.deliveries, audit_days: d.audit };
    const effective = Object.fromEntries(PERIODS.map((p) => [p, row[p] ?? defaults[p]])) as typeof defaults;
    return { ...row, effective, defaults };
  };

  app.openapi(routes.get, async (c) => {
    const { tenantId } = c.req.valid('param');
    await loadTenant(c, tenantId);
    return c.json(present(c, await findRetention(c.var.db, tenantId)), 200);
  });

  app.openapi(routes.put, async (c) => {
    const principal = c.get('principal');
    requireAdmin(principal);
    const { tenantId } = c.req.valid('param');
    await loadTenant(c, tenantId);
    const body = c.req.valid('json');
    const days = { events_days: body.events_days ?? null, deliveries_days: body.deliveries_days ?? null, audit_days: body.audit_days ?? null };
    const row = await putRetention(c.var.db, tenantId, days);
    await recordAudit(c.var.db, { tenantId, actor: actorOf(principal), action: 'retention.updated', target: tenantId, details: days });
    return c.json(present(c, row), 200);
  });
}
