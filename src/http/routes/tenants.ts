import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { insertTenant } from '../../db/tenants';
import { recordAudit } from '../../db/audit';
import { newId } from '../../lib/ids';
import { mintToken, requireAdmin } from '../middleware/auth';
import type { AppEnv } from '../context';
import { problemResponses, TenantParam } from '../schemas';
import { loadTenant } from '../tenant-access';

const Tenant = z
  .object({ id: z.string(), name: z.string(), dedup_window_seconds: z.number().int(), created_at: z.string() })
  .openapi('Tenant');

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
          }),
        },
      },
    },
  },
  responses: { 201: { description: 'Created', content: { 'application/json': { schema: Tenant } } }, ...problemResponses(401, 403, 422) },
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
            scopes: z.array(z.string().regex(/^[a-z-]+:(read|write)$/)).max(32).optional().openapi({ example: ['events:read'] }),
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
    const tenant = await insertTenant(c.var.db, { id: newId('tn'), name: body.name, dedupWindowSeconds: body.dedup_window_seconds });
    await recordAudit(c.var.db, { tenantId: tenant.id, principal, action: 'tenant.created', target: tenant.id });
    return c.json(tenant, 201);
  });

  app.openapi(getTenant, async (c) => {
    const tenant = await loadTenant(c, c.req.valid('param').tenantId);
    return c.json(tenant, 200);
  });

  app.openapi(createToken, async (c) => {
    const principal = c.get('principal');
    requireAdmin(principal);
    const { tenantId } = c.req.valid('param');
    const body = c.req.valid('json') ?? { ttl_seconds: 3600 };
    await loadTenant(c, tenantId);
    const ttl = body.ttl_seconds ?? 3600;
    const token = await mintToken(c.env.ADMIN_JWT_SECRET, { scope: 'tenant', tenant: tenantId, scopes: body.scopes }, ttl);
    return c.json({ token, expires_at: new Date(Date.now() + ttl * 1000).toISOString() }, 201);
  });
}
