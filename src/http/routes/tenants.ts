import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { insertTenant, updateTenant, type Tenant as TenantRow } from '../../db/tenants';
import { recordAudit } from '../../db/audit';
import { problem, ProblemError } from '../../ingest/problem';
import { newId } from '../../lib/ids';
import { parseRateLimits } from '../../ratelimit/limits';
import { TENANT_SCOPES } from '../../tenancy/scopes';
import { changeConfig } from '../config-change';
import { mintToken, requireAdmin } from '../middleware/auth';
import type { AppEnv } from '../context';
import { problemResponses, TenantParam } from '../schemas';
import { loadTenant } from '../tenant-access';

const RateRule = z
  .object({ requests: z.int().min(1).max(1_000_000), window_seconds: z.int().min(1).max(86_400) })
  .openapi('RateRule', { description: 'at most `requests` ingest requests (a batch counts once) in a sliding window of `window_seconds`' });
const RateLimits = z
  .object({
    tenant: RateRule.nullable().optional().openapi({ description: 'over all sources of the tenant; null or absent: unlimited' }),
    source: RateRule.nullable().optional().openapi({ description: 'for each source on its own; null or absent: unlimited' }),
  })
  .openapi('RateLimits', { example: { tenant: { requests: 1000, window_seconds: 1 }, source: { requests: 100, window_seconds: 1 } } });

const Tenant = z
  .object({ id: z.string(), name: z.string(), dedup_window_seconds: z.number().int(), rate_limits: RateLimits, created_at: z.string() })
  .openapi('Tenant');

const presentTenant = (t: TenantRow) => ({ ...t, rate_limits: parseRateLimits(t.rate_limits) });

const createTenant = createRoute({
  method: 'post',
  path: '/v1/tenants',
  tags: ['tenants'],
  summary: 'Create a tenant (admin)',
  security: [{ bearer: [] }],
  request: {
    body: {
      required: true,
      content: {
        'application/json': {
          schema: z.object({
            name: z.string().min(1).max(200).openapi({ example: 'Acme' }),
            dedup_window_seconds: z.number().int().min(60).max(2_592_000).optional().openapi({ description: 'dedup window, default 86400' }),
            rate_limits: RateLimits.optional(),
          }),
        },
      },
    },
  },
  responses: { 201: { description: 'Created', content: { 'application/json': { schema: Tenant } } }, ...problemResponses(401, 403, 422) },
});

const updateTenantRoute = createRoute({
  method: 'patch',
  path: '/v1/tenants/{tenantId}',
  tags: ['tenants'],
  summary: 'Change a tenant: name, dedup window, ingest rate limits (admin; applies from the next event)',
  security: [{ bearer: [] }],
  request: {
    params: TenantParam,
    body: {
      required: true,
      content: {
        'application/json': {
          schema: z.object({
            name: z.string().min(1).max(200).optional(),
            dedup_window_seconds: z.number().int().min(60).max(2_592_000).optional(),
            rate_limits: RateLimits.optional().openapi({ description: 'replaces the limits as a whole; {} removes them' }),
          }),
        },
      },
    },
  },
  responses: { 200: { description: 'The tenant', content: { 'application/json': { schema: Tenant } } }, ...problemResponses(401, 403, 404, 422) },
});

const getTenant = createRoute({
  method: 'get',
  path: '/v1/tenants/{tenantId}',
  tags: ['tenants'],
  summary: 'Read a tenant',
  security: [{ bearer: [] }],
  request: { params: TenantParam },
  responses: { 200: { description: 'The tenant', content: { 'application/json': { schema: Tenant } } }, ...problemResponses(401, 404) },
});

const createToken = createRoute({
  method: 'post',
  path: '/v1/tenants/{tenantId}/tokens',
  tags: ['tenants'],
  summary: 'Mint a tenant-scoped token (admin)',
  security: [{ bearer: [] }],
  request: {
    params: TenantParam,
    body: {
      required: false,
      content: {
        'application/json': {
          schema: z.object({
            scopes: z
              .array(z.enum(TENANT_SCOPES))
              .max(32)
              .optional()
              .openapi({ example: ['events:read', 'subscriptions:write'], description: 'without scopes the token has full access to the tenant; `write` includes `read`; `*` is everything' }),
            ttl_seconds: z.number().int().min(60).max(2_592_000).default(3600),
          }),
        },
      },
    },
  },
  responses: {
    201: { description: 'Token', content: { 'application/json': { schema: z.object({ token: z.string(), expires_at: z.string() }) } } },
    ...problemResponses(401, 403, 404, 422),
  },
});

export function registerTenants(app: OpenAPIHono<AppEnv>): void {
  app.openapi(createTenant, async (c) => {
    const principal = c.get('principal');
    requireAdmin(principal);
    const body = c.req.valid('json');
    const tenant = await insertTenant(c.var.db, { id: newId('tn'), name: body.name, dedupWindowSeconds: body.dedup_window_seconds, rateLimits: body.rate_limits });
    await recordAudit(c.var.db, { tenantId: tenant.id, principal, action: 'tenant.created', target: tenant.id });
    return c.json(presentTenant(tenant), 201);
  });

  app.openapi(getTenant, async (c) => {
    const tenant = await loadTenant(c, c.req.valid('param').tenantId);
    return c.json(presentTenant(tenant), 200);
  });

  app.openapi(updateTenantRoute, async (c) => {
    const principal = c.get('principal');
    requireAdmin(principal);
    const { tenantId } = c.req.valid('param');
    const body = c.req.valid('json');
    const tenant = await changeConfig(c, tenantId, async () => {
      const row = await updateTenant(c.var.db, tenantId, { name: body.name, dedupWindowSeconds: body.dedup_window_seconds, rateLimits: body.rate_limits });
      if (!row) throw new ProblemError(problem(404, 'tenant_not_found', `no tenant ${tenantId}`));
      await recordAudit(c.var.db, { tenantId, principal, action: 'tenant.updated', target: tenantId, details: { fields: Object.keys(body), ...(body.rate_limits ? { rate_limits: body.rate_limits } : {}) } });
      return row;
    });
    return c.json(presentTenant(tenant), 200);
  });

  app.openapi(createToken, async (c) => {
    const principal = c.get('principal');
    requireAdmin(principal);
    const { tenantId } = c.req.valid('param');
    const body = c.req.valid('json') ?? { ttl_seconds: 3600 };
    await loadTenant(c, tenantId);
    const ttl = body.ttl_seconds ?? 3600;
    const token = await mintToken(c.env.ADMIN_JWT_SECRET, { scope: 'tenant', tenant: tenantId, scopes: body.scopes }, ttl);
    await recordAudit(c.var.db, { tenantId, principal, action: 'token.minted', details: { scopes: body.scopes ?? null, ttl_seconds: ttl } });
    return c.json({ token, expires_at: new Date(Date.now() + ttl * 1000).toISOString() }, 201);
  });
}
