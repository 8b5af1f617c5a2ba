import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { recordAudit } from '../../db/audit';
import { actorOf } from '../../tenancy/principal';
import { deleteSource, findSource, insertSource, listSources, updateSource, type Source } from '../../db/sources';
import { rateRuleSchema } from '../../ratelimit/limits';
import { problem, ProblemError } from '../../lib/problem';
import { newId } from '../../lib/ids';
import { seal } from '../../lib/secret-box';
import { findPlugin } from '../../db/plugins';
import { typesOfKind } from '../../plugins/registry';
import type { VerifierPlugin } from '../../plugins/types';
import { parsePluginConfig, requirePluginType } from '../plugin-config';
import { acceptPluginConfig } from '../plugin-checks';
import { changeConfig } from '../config-change';
import type { AppEnv } from '../context';
import { CURSOR, decodeCursor, encodeCursor, idParam, PageQuery, problemResponses, TenantParam } from '../schemas';
import { loadTenant } from '../tenant-access';
import { assertBelowLimit } from '../tenant-limits';

const RateRule = z
  .strictObject({ requests: rateRuleSchema.shape.requests, window_seconds: rateRuleSchema.shape.window_seconds })
  .openapi('SourceRateLimit', { example: { requests: 100, window_seconds: 1 } });

const SourceSchema = z
  .object({
    id: z.string(),
    tenant_id: z.string(),
    name: z.string(),
    ingest_url: z.string(),
    verifier: z.object({ type: z.string(), config: z.record(z.string(), z.unknown()), plugin_id: z.string().nullable() }),
    rate_limit: RateRule.nullable().openapi({
      description: "the source's own ingest limit, in place of the tenant's per-source rule; null: the tenant's rule applies",
    }),
    allow_critical: z.boolean().openapi({
      description:
        'whether it may send events with priority critical (they skip the ingest rate limits and take the critical lane); default false, set by admins',
    }),
    created_at: z.string(),
  })
  .openapi('Source');

const CreatedSource = SourceSchema.extend({
  secret: z.string().nullable().openapi({ description: 'the signing secret, shown only now', example: 'whsec_…' }),
}).openapi('CreatedSource');

const SourceParams = TenantParam.extend({ sourceId: idParam('src', 'sourceId') });

const createSource = createRoute({
  method: 'post',
  path: '/v1/tenants/{tenantId}/sources',
  tags: ['sources'],
  summary: 'Create an ingest source',
  description: `Verifier types: ${typesOfKind('verifier').join(', ')}; or a registered verifier instance by plugin_id. Default: standard-webhooks with a new whsec_ secret.`,
  security: [{ bearer: [] }],
  request: {
    params: TenantParam,
    body: {
      required: true,
      content: {
        'application/json': {
          schema: z.strictObject({
            name: z.string().min(1).max(200).openapi({ example: 'billing-service' }),
            verifier: z
              .union([
                z.strictObject({ plugin_id: z.string().openapi({ description: 'a registered verifier plugin instance' }) }),
                z.strictObject({
                  type: z.string().openapi({ example: 'standard-webhooks' }),
                  config: z.record(z.string(), z.unknown()).default({}),
                  secret: z.string().min(8).max(512).optional().openapi({ description: 'bring your own signing secret (e.g. the one GitHub or Stripe shows)' }),
                }),
              ])
              .optional(),
          }),
        },
      },
    },
  },
  responses: { 201: { description: 'Created', content: { 'application/json': { schema: CreatedSource } } }, ...problemResponses(401, 404, 409, 422) },
});

const listRoute = createRoute({
  method: 'get',
  path: '/v1/tenants/{tenantId}/sources',
  tags: ['sources'],
  summary: 'List sources',
  security: [{ bearer: [] }],
  request: { params: TenantParam, query: PageQuery },
  responses: {
    200: {
      description: 'A page of sources',
      content: { 'application/json': { schema: z.object({ data: z.array(SourceSchema), next_cursor: z.string().nullable() }) } },
    },
    ...problemResponses(400, 401, 404),
  },
});

const getRoute = createRoute({
  method: 'get',
  path: '/v1/tenants/{tenantId}/sources/{sourceId}',
  tags: ['sources'],
  summary: 'Read a source',
  security: [{ bearer: [] }],
  request: { params: SourceParams },
  responses: { 200: { description: 'The source', content: { 'application/json': { schema: SourceSchema } } }, ...problemResponses(401, 404) },
});

const patchRoute = createRoute({
  method: 'patch',
  path: '/v1/tenants/{tenantId}/sources/{sourceId}',
  tags: ['sources'],
  summary: 'Rename a source or set its own rate limit',
  description:
    "The verifier of a source is fixed; rotate its secret with `rotate-secret`, or create a new source for another verifier. `rate_limit` (admin tokens only, like the tenant's limits) replaces the tenant's per-source rule for this source from the next request on; `null` removes it. `allow_critical` (admin tokens only) lets the source send `priority: critical` events, which skip the rate limits.",
  security: [{ bearer: [] }],
  request: {
    params: SourceParams,
    body: {
      required: true,
      content: {
        'application/json': {
          schema: z.strictObject({
            name: z.string().min(1).max(200).optional().openapi({ example: 'billing-service (eu)' }),
            rate_limit: RateRule.nullable().optional(),
            allow_critical: z.boolean().optional(),
          }),
        },
      },
    },
  },
  responses: { 200: { description: 'The source', content: { 'application/json': { schema: SourceSchema } } }, ...problemResponses(401, 403, 404, 422) },
});

const deleteRoute = createRoute({
  method: 'delete',
  path: '/v1/tenants/{tenantId}/sources/{sourceId}',
  tags: ['sources'],
  summary: 'Delete a source',
  description: 'Ingest to it answers 404 `source_not_found` from the next request on, in every isolate. Its secrets are deleted; the events it accepted stay.',
  security: [{ bearer: [] }],
  request: { params: SourceParams },
  responses: { 204: { description: 'Deleted' }, ...problemResponses(401, 404) },
});

const notFound = (sourceId: string) => new ProblemError(problem(404, 'source_not_found', `no source ${sourceId}`));

function present(source: Source, origin: string) {
  return {
    id: source.id,
    tenant_id: source.tenant_id,
    name: source.name,
    ingest_url: `${origin}/v1/ingest/${source.id}`,
    verifier: { type: source.verifier_type, config: source.verifier_config, plugin_id: source.verifier_plugin_id },
    rate_limit: source.rate_limit,
    allow_critical: source.allow_critical,
    created_at: source.created_at,
  };
}

export function registerSources(app: OpenAPIHono<AppEnv>): void {
  app.openapi(createSource, async (c) => {
    const { tenantId } = c.req.valid('param');
    await loadTenant(c, tenantId);
    const body = c.req.valid('json');
    const requested = body.verifier ?? { type: 'standard-webhooks', config: {} };
    let plugin: VerifierPlugin;
    let config: unknown;
    let pluginId: string | null = null;
    if ('plugin_id' in requested) {
      const instance = await findPlugin(c.var.db, tenantId, requested.plugin_id);
      if (instance?.kind !== 'verifier') {
        throw new ProblemError(
          problem(422, 'plugin_not_found', `no verifier plugin instance ${requested.plugin_id}`, {
            errors: [{ pointer: '/verifier/plugin_id', detail: 'not a verifier instance of this tenant' }],
          }),
        );
      }
      plugin = requirePluginType(instance.type, '/verifier/plugin_id', 'verifier');
      config = parsePluginConfig(plugin, instance.config, '/verifier/plugin_id');
      pluginId = instance.id;
    } else {
      plugin = requirePluginType(requested.type, '/verifier/type', 'verifier');
      config = await acceptPluginConfig(c, tenantId, plugin, requested.config, '/verifier/config');
    }
    const supplied = 'secret' in requested ? requested.secret : undefined;
    const provision = await plugin.provision(config, supplied);
    // a verifier that makes its own secrets must not leave the caller believing theirs is in use
    if (supplied !== undefined && !provision.secrets.includes(supplied)) {
      throw new ProblemError(
        problem(
          422,
          'secret_not_accepted',
          `the ${plugin.id} verifier does not take this secret (standard-webhooks takes a whsec_ secret of 24 to 64 base64 bytes; with public_keys, and for other verifiers that make their own, leave out verifier.secret)`,
          { errors: [{ pointer: '/verifier/secret', detail: 'not accepted by this verifier' }] },
        ),
      );
    }
    const sealedSecrets = await Promise.all(
      provision.secrets.map(async (secret) => ({ id: newId('sec'), ciphertext: await seal(c.env.ENCRYPTION_KEY, secret) })),
    );
    const principal = c.get('principal');
    const db = c.var.db;
    await assertBelowLimit(db, tenantId, 'sources');
    const source = await insertSource(db, {
      id: newId('src'),
      tenantId,
      name: body.name,
      verifierType: plugin.id,
      verifierConfig: pluginId ? {} : provision.config,
      verifierPluginId: pluginId,
      sealedSecrets,
    });
    await recordAudit(db, { tenantId, actor: actorOf(principal), action: 'source.created', target: source.id, details: { verifier: plugin.id } });
    return c.json({ ...present(source, new URL(c.req.url).origin), secret: provision.secrets[0] ?? null }, 201);
  });

  app.openapi(listRoute, async (c) => {
    const { tenantId } = c.req.valid('param');
    await loadTenant(c, tenantId);
    const { cursor, limit } = c.req.valid('query');
    const rows = await listSources(c.var.db, tenantId, { afterId: decodeCursor(cursor, CURSOR.id('src')), limit: limit + 1 });
    const page = rows.slice(0, limit);
    const origin = new URL(c.req.url).origin;
    return c.json({ data: page.map((s) => present(s, origin)), next_cursor: rows.length > limit ? encodeCursor(page.at(-1)!.id) : null }, 200);
  });

  app.openapi(getRoute, async (c) => {
    const { tenantId, sourceId } = c.req.valid('param');
    await loadTenant(c, tenantId);
    const source = await findSource(c.var.db, tenantId, sourceId);
    if (!source) throw notFound(sourceId);
    return c.json(present(source, new URL(c.req.url).origin), 200);
  });

  app.openapi(patchRoute, async (c) => {
    const { tenantId, sourceId } = c.req.valid('param');
    await loadTenant(c, tenantId);
    const { name, rate_limit: rateLimit, allow_critical: allowCritical } = c.req.valid('json');
    const principal = c.get('principal');
    if (rateLimit !== undefined && principal.scope !== 'admin') {
      throw new ProblemError(
        problem(403, 'forbidden', 'rate limits are set with an admin token', { errors: [{ pointer: '/rate_limit', detail: 'needs an admin token' }] }),
      );
    }
    // critical events skip the limits an admin set, so only an admin may allow them
    if (allowCritical !== undefined && principal.scope !== 'admin') {
      throw new ProblemError(
        problem(403, 'forbidden', 'allow_critical is set with an admin token', { errors: [{ pointer: '/allow_critical', detail: 'needs an admin token' }] }),
      );
    }
    const db = c.var.db;
    const update = async () => {
      const updated = await updateSource(db, tenantId, sourceId, { name, rateLimit, allowCritical });
      if (updated)
        await recordAudit(db, {
          tenantId,
          actor: actorOf(principal),
          action: 'source.updated',
          target: sourceId,
          details: {
            ...(name === undefined ? {} : { name }),
            ...(rateLimit === undefined ? {} : { rate_limit: rateLimit }),
            ...(allowCritical === undefined ? {} : { allow_critical: allowCritical }),
          },
        });
      return updated;
    };
    let source: Source | null;
    // ingest reads the rate limit, so changing it is a config change; the name alone is not
    if (rateLimit !== undefined || allowCritical !== undefined) source = await changeConfig(c, tenantId, update);
    else if (name !== undefined) source = await update();
    else source = await findSource(db, tenantId, sourceId);
    if (!source) throw notFound(sourceId);
    return c.json(present(source, new URL(c.req.url).origin), 200);
  });

  app.openapi(deleteRoute, async (c) => {
    const { tenantId, sourceId } = c.req.valid('param');
    await loadTenant(c, tenantId);
    const db = c.var.db;
    // a config change, so isolates holding the source in cache learn of it on their next append
    const deleted = await changeConfig(
      c,
      tenantId,
      async () => {
        if (!(await deleteSource(db, tenantId, sourceId))) return false;
        await recordAudit(db, { tenantId, actor: actorOf(c.get('principal')), action: 'source.deleted', target: sourceId, details: {} });
        return true;
      },
      { sourceIds: [sourceId] },
    );
    if (!deleted) throw notFound(sourceId);
    return c.body(null, 204);
  });
}
