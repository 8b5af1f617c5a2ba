/** The tenant's append-only record of management changes: who (token subject), what, when. */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { listAudit } from '../../db/audit';
import type { AppEnv } from '../context';
import { CURSOR, decodeCursor, encodeCursor, PageQuery, problemResponses, TenantParam } from '../schemas';
import { loadTenant } from '../tenant-access';

const Entry = z
  .object({
    id: z.string(),
    actor: z.string().openapi({ example: 'tenant:tn_01JD…' }),
    action: z.string().openapi({ example: 'subscription.created' }),
    target: z.string().nullable().openapi({ example: 'sub_01JD…' }),
    details: z.record(z.string(), z.unknown()),
    at: z.string(),
  })
  .openapi('AuditEntry');

const route = createRoute({
  method: 'get',
  path: '/v1/tenants/{tenantId}/audit-log',
  tags: ['audit-log'],
  security: [{ bearer: [] }],
  summary: 'Management changes of the tenant, newest first',
  request: {
    params: TenantParam,
    query: PageQuery.extend({ action: z.string().max(100).optional().openapi({ example: 'source.secret_rotated' }), target: z.string().max(100).optional() }),
  },
  responses: {
    200: {
      description: 'A page of entries',
      content: { 'application/json': { schema: z.object({ data: z.array(Entry), next_cursor: z.string().nullable() }) } },
    },
    ...problemResponses(400, 401, 403, 404, 422),
  },
});

export function registerAuditLog(app: OpenAPIHono<AppEnv>): void {
  app.openapi(route, async (c) => {
    const { tenantId } = c.req.valid('param');
    await loadTenant(c, tenantId);
    const q = c.req.valid('query');
    const before = decodeCursor(q.cursor, CURSOR.bigint);
    const rows = await listAudit(c.var.db, tenantId, { beforeId: before, action: q.action, target: q.target, limit: q.limit + 1 });
    const page = rows.slice(0, q.limit);
    return c.json({ data: page, next_cursor: rows.length > q.limit ? encodeCursor(page.at(-1)!.id) : null }, 200);
  });
}
