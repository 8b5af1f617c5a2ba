/**
 * Events the tenant's log acknowledged but Postgres refused to store, with the error: normally in
 * `quarantined_events`, rarely (Postgres refused even the text) in the TenantLog itself. Both are
 * listed here in sequence order. Read access is that of events (`events:read`).
 */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { listQuarantined, type QuarantinedEvent } from '../../db/quarantine';
import type { AppEnv } from '../context';
import { CURSOR, decodeCursor, encodeCursor, problemResponses, TenantParam } from '../schemas';
import { loadTenant } from '../tenant-access';
import { allShards, shardLog } from '../../tenancy/shard-routing';

const Quarantined = z
  .object({
    sequence: z.number().int().openapi({ description: 'the sequence the event was acknowledged with; never given to another event' }),
    id: z.string().openapi({ example: 'evt_01JD…' }),
    ce_id: z.string(),
    source_id: z.string(),
    type: z.string(),
    event: z.string().openapi({ description: 'the event as acknowledged, JSON text' }),
    error: z.string().openapi({ example: 'stack depth limit exceeded' }),
    sqlstate: z.string().nullable().openapi({ example: '54001' }),
    received_at: z.string(),
    quarantined_at: z.string(),
    held_by: z.enum(['postgres', 'tenant_log']),
  })
  .openapi('QuarantinedEvent');

const route = createRoute({
  method: 'get',
  path: '/v1/tenants/{tenantId}/quarantine',
  tags: ['events'],
  security: [{ bearer: [] }],
  summary: 'Acknowledged events Postgres refused to store, with the error',
  request: {
    params: TenantParam,
    query: z.object({
      cursor: z.string().optional().openapi({ description: 'next_cursor of the previous page' }),
      limit: z.coerce.number().int().min(1).max(100).default(20),
    }),
  },
  responses: {
    200: {
      description: 'A page of quarantined events',
      content: { 'application/json': { schema: z.object({ data: z.array(Quarantined), next_cursor: z.string().nullable() }) } },
    },
    ...problemResponses(400, 401, 403, 404, 422),
  },
});

export function registerQuarantine(app: OpenAPIHono<AppEnv>): void {
  app.openapi(route, async (c) => {
    const { tenantId } = c.req.valid('param');
    const { shard_span: shards } = await loadTenant(c, tenantId);
    const q = c.req.valid('query');
    const cursor = decodeCursor(q.cursor, CURSOR.sequence);
    const after = cursor === undefined ? 0 : Number(cursor);
    const [stored, kept] = await Promise.all([
      listQuarantined(c.var.db, tenantId, after, q.limit + 1),
      // every shard's own kept rows (their sequences name the shard), merged below in sequence order
      Promise.all(allShards(shards).map((shard) => shardLog(c.env, tenantId, shard).quarantined(after, q.limit + 1))).then((lists) => lists.flat()),
    ]);
    const rows = [
      ...stored.map((r) => ({ ...r, held_by: 'postgres' as const })),
      ...kept.map((r: QuarantinedEvent) => ({ ...r, held_by: 'tenant_log' as const })),
    ].sort((a, b) => a.sequence - b.sequence);
    const page = rows.slice(0, q.limit);
    return c.json({ data: page, next_cursor: rows.length > q.limit ? encodeCursor(page.at(-1)!.sequence) : null }, 200);
  });
}
