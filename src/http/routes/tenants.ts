import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { deleteTenantData, insertTenant, listTenants, updateTenant, type Tenant as TenantRow } from '../../db/tenants';
import { transaction, withDb } from '../../db/client';
import { PURGE_LIMITS, runArchivePurges } from '../../archive/purge';
import { isConcurrencyRollback } from '../database-refusal';
import { recordAudit } from '../../db/audit';
import { actorOf } from '../../tenancy/principal';
import { problem, ProblemError } from '../../lib/problem';
import { newId } from '../../lib/ids';
import { parseRateLimits } from '../../ratelimit/limits';
import { TENANT_SCOPES } from '../../tenancy/scopes';
import { invalidateTenantConfig } from '../../tenancy/shared-cache';
import { forgetTenantRules } from '../../tenancy/tenant-rules';
import { allShards, MAX_SHARDS, shardLog } from '../../tenancy/shard-routing';
import { changeShards, type PlannedChange, startMove } from '../../tenancy/shard-change';
import { changeConfig } from '../config-change';
import { mintToken, requireAdmin } from '../middleware/auth';
import type { AppEnv } from '../context';
import { CURSOR, decodeCursor, encodeCursor, PageQuery, problemResponses, TenantParam } from '../schemas';
import { loadTenant } from '../tenant-access';

const RateRule = z
  .strictObject({ requests: z.int().min(1).max(1_000_000), window_seconds: z.int().min(1).max(86_400) })
  .openapi('RateRule', { description: 'at most `requests` ingest requests (a batch counts once) in a sliding window of `window_seconds`' });
const RateLimits = z
  .strictObject({
    tenant: RateRule.nullable().optional().openapi({ description: 'over all sources of the tenant; null or absent: unlimited' }),
    source: RateRule.nullable().optional().openapi({ description: 'for each source on its own; null or absent: unlimited' }),
  })
  .openapi('RateLimits', { example: { tenant: { requests: 1000, window_seconds: 1 }, source: { requests: 100, window_seconds: 1 } } });

const Shards = z.number().int().min(1).max(MAX_SHARDS).openapi({
  description:
    'how many event logs the tenant\'s events are spread over (README "Sharded tenants"); default 1. A change moves keys between logs live: watch `shard_change`',
});

const ShardChange = z
  .object({
    epoch: z.number().int(),
    from: z.number().int(),
    to: z.number().int(),
    state: z.enum(['moving', 'done']),
    started_at: z.string(),
    finished_at: z.string().nullable(),
    released_slots: z.number().int().openapi({ description: 'slots the old shards have handed over so far' }),
    moving_slots: z.number().int().openapi({ description: 'slots (of 1024) whose shard changes' }),
  })
  .openapi('ShardChange', { description: 'the newest change of the shard count; null when there was none' });

const Tenant = z
  .object({
    id: z.string(),
    name: z.string(),
    dedup_window_seconds: z.number().int(),
    rate_limits: RateLimits,
    shards: z.number().int(),
    shard_change: ShardChange.nullable(),
    created_at: z.string(),
  })
  .openapi('Tenant');

const presentTenant = ({ shard_span: _span, ...t }: TenantRow) => ({ ...t, rate_limits: parseRateLimits(t.rate_limits) });

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
          schema: z.strictObject({
            name: z.string().min(1).max(200).openapi({ example: 'Acme' }),
            dedup_window_seconds: z.number().int().min(60).max(2_592_000).optional().openapi({ description: 'dedup window, default 86400' }),
            rate_limits: RateLimits.optional(),
            shards: Shards.optional(),
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
  summary: 'Change a tenant: name, dedup window, ingest rate limits, shard count (admin; applies from the next event)',
  security: [{ bearer: [] }],
  request: {
    params: TenantParam,
    body: {
      required: true,
      content: {
        'application/json': {
          schema: z.strictObject({
            name: z.string().min(1).max(200).optional(),
            dedup_window_seconds: z.number().int().min(60).max(2_592_000).optional(),
            rate_limits: RateLimits.optional().openapi({ description: 'replaces the limits as a whole; {} removes them' }),
            shards: Shards.optional(),
          }),
        },
      },
    },
  },
  responses: { 200: { description: 'The tenant', content: { 'application/json': { schema: Tenant } } }, ...problemResponses(401, 403, 404, 409, 422, 503) },
});

const listTenantsRoute = createRoute({
  method: 'get',
  path: '/v1/tenants',
  tags: ['tenants'],
  summary: 'List tenants in creation order (admin)',
  security: [{ bearer: [] }],
  request: {
    query: PageQuery.extend({ name: z.string().min(1).max(200).optional().openapi({ description: 'only tenants whose name contains this, ignoring case' }) }),
  },
  responses: {
    200: {
      description: 'A page of tenants',
      content: { 'application/json': { schema: z.object({ data: z.array(Tenant), next_cursor: z.string().nullable() }) } },
    },
    ...problemResponses(400, 401, 403),
  },
});

const deleteTenantRoute = createRoute({
  method: 'delete',
  path: '/v1/tenants/{tenantId}',
  tags: ['tenants'],
  summary: 'Delete a tenant and all its data (admin)',
  description:
    'Ingest to its sources answers 404 from the moment this returns. Its events, deliveries and their attempts, sources and secrets, plugins, event types, subscriptions, replays and audit log are removed, and its event archive in R2 (`tenants/{t}/`) is deleted in the background (resumed by the minute Cron job until done); events acknowledged but not yet in Postgres are dropped with the tenant, and queued deliveries are discarded unsent. One `tenant.deleted` entry stays in the deployment audit log. Not reversible.',
  security: [{ bearer: [] }],
  request: { params: TenantParam },
  responses: { 204: { description: 'Deleted' }, ...problemResponses(401, 403, 404, 503) },
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
          schema: z.strictObject({
            scopes: z
              .array(z.enum(TENANT_SCOPES))
              .max(32)
              .optional()
              .openapi({
                example: ['events:read', 'subscriptions:write'],
                description: 'without scopes the token has full access to the tenant; `write` includes `read`; `*` is everything',
              }),
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
    const tenant = await insertTenant(c.var.db, {
      id: newId('tn'),
      name: body.name,
      dedupWindowSeconds: body.dedup_window_seconds,
      rateLimits: body.rate_limits,
      shards: body.shards,
    });
    await recordAudit(c.var.db, { tenantId: tenant.id, actor: actorOf(principal), action: 'tenant.created', target: tenant.id });
    return c.json(presentTenant(tenant), 201);
  });

  app.openapi(listTenantsRoute, async (c) => {
    requireAdmin(c.get('principal'));
    const { cursor, limit, name } = c.req.valid('query');
    const rows = await listTenants(c.var.db, { afterId: decodeCursor(cursor, CURSOR.id('tn')), name, limit: limit + 1 });
    const page = rows.slice(0, limit);
    return c.json({ data: page.map(presentTenant), next_cursor: rows.length > limit ? encodeCursor(page.at(-1)!.id) : null }, 200);
  });

  app.openapi(deleteTenantRoute, async (c) => {
    const principal = c.get('principal');
    requireAdmin(principal);
    const { tenantId } = c.req.valid('param');
    const { shard_span: shards } = await loadTenant(c, tenantId);
    // the logs first (every shard, retired ones too), so no event is accepted for a tenant whose rows are going; a retry after a failure below is safe
    try {
      await Promise.all(allShards(shards).map((shard) => shardLog(c.env, tenantId, shard).deleteTenant()));
    } catch (error) {
      console.error(JSON.stringify({ msg: 'tenant log not closed', tenantId, error: String(error) }));
      throw new ProblemError(
        problem(503, 'storage_unavailable', "the tenant's event log could not be closed; nothing was deleted, retry", { headers: { 'retry-after': '1' } }),
      );
    }
    const db = c.var.db;
    // cached copies of its sources now lead to the closed log (404); dropping them is tidiness, not safety
    await invalidateTenantConfig(c.env, db, tenantId);
    forgetTenantRules(tenantId);
    // a flush or a consumer of this tenant may hold rows it deletes: Postgres then rolls one back; the delete runs again
    for (let attempt = 1; ; attempt++) {
      try {
        await transaction(db, async () => {
          if (!(await deleteTenantData(db, tenantId))) throw new ProblemError(problem(404, 'tenant_not_found', `no tenant ${tenantId}`));
          await recordAudit(db, { tenantId: null, actor: actorOf(principal), action: 'tenant.deleted', target: tenantId });
        });
        break;
      } catch (error) {
        if (attempt >= 3 || !isConcurrencyRollback(error)) throw error;
      }
    }
    // its archive objects: one try now, and the minute Cron job finishes or retries it
    c.executionCtx.waitUntil(
      withDb(c.env, (purgeDb) => runArchivePurges(purgeDb, c.env.ARCHIVE, PURGE_LIMITS, tenantId)).catch((error: unknown) =>
        console.error(JSON.stringify({ msg: 'archive purge deferred to the Cron job', tenantId, error: String(error) })),
      ),
    );
    return c.body(null, 204);
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
    let moving = null as PlannedChange | null;
    const tenant = await changeConfig(c, tenantId, async () => {
      if (body.shards !== undefined) moving = await changeShards(c.var.db, tenantId, body.shards);
      const row = await updateTenant(c.var.db, tenantId, { name: body.name, dedupWindowSeconds: body.dedup_window_seconds, rateLimits: body.rate_limits });
      if (!row) throw new ProblemError(problem(404, 'tenant_not_found', `no tenant ${tenantId}`));
      await recordAudit(c.var.db, {
        tenantId,
        actor: actorOf(principal),
        action: 'tenant.updated',
        target: tenantId,
        details: { fields: Object.keys(body), ...(body.rate_limits ? { rate_limits: body.rate_limits } : {}), ...(body.shards ? { shards: body.shards } : {}) },
      });
      return row;
    });
    // after the commit: the old shards plan and drive the move (the cron sends a lost plan again)
    if (moving) await startMove(c.env, moving);
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
    await recordAudit(c.var.db, { tenantId, actor: actorOf(principal), action: 'token.minted', details: { scopes: body.scopes ?? null, ttl_seconds: ttl } });
    return c.json({ token, expires_at: new Date(Date.now() + ttl * 1000).toISOString() }, 201);
  });
}
