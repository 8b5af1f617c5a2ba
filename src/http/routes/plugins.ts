import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { recordAudit } from '../../db/audit';
import { actorOf } from '../../tenancy/principal';
import { deletePlugin, findPlugin, insertPlugin, listPlugins, pluginUsers, updatePlugin, type PluginRow } from '../../db/plugins';
import { problem, ProblemError } from '../../lib/problem';
import { newId } from '../../lib/ids';
import { TypePatternSchema } from '../../lib/type-pattern';
import { catalog, pluginType } from '../../plugins/registry';
import { hasPlainSecrets, maskSecrets } from '../../plugins/secret-fields';
import { changeConfig } from '../config-change';
import { changedMeanwhile, etag, ifMatchVersion } from '../etag';
import type { AppEnv } from '../context';
import { acceptPluginConfig, sealPluginConfig } from '../plugin-checks';
import { requirePluginType } from '../plugin-config';
import { registerPluginTest } from './plugin-test';
import { CURSOR, decodeCursor, encodeCursor, idParam, json, PageQuery, problemResponses, TenantParam } from '../schemas';
import { loadTenant } from '../tenant-access';
import { assertBelowLimit } from '../tenant-limits';
import { errorProperty } from '../../lib/errors';

const Patterns = z.array(TypePatternSchema).min(1).max(50);

const PluginSchema = z
  .object({
    id: z.string(),
    type: z.string(),
    kind: z.enum(['verifier', 'validator', 'transformer', 'action']),
    name: z.string(),
    config: z
      .record(z.string(), z.unknown())
      .openapi({ description: 'secret fields (writeOnly in the catalog) read as "********"; send that back to keep them' }),
    event_types: z.array(z.string()),
    position: z.number().int(),
    enabled: z.boolean(),
    version: z.number().int(),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi('PluginInstance');

const CatalogSchema = z
  .object({ id: z.string(), kind: z.string(), api_version: z.number().int(), description: z.string(), config_schema: z.record(z.string(), z.unknown()) })
  .openapi('PluginType');

const PluginParams = TenantParam.extend({ pluginId: idParam('plg', 'pluginId') });
const tag = (p: PluginRow) => etag(p.id, p.version);
// secret fields read as SECRET_MARKER, sealed or (in rows older than sealing) not
const present = (p: PluginRow) => ({ ...p, config: maskSecrets(pluginType(p.type), p.config), kind: p.kind as z.infer<typeof PluginSchema>['kind'] });

const routes = {
  catalog: createRoute({
    method: 'get',
    path: '/v1/plugins',
    tags: ['plugins'],
    summary: 'The catalog of plugin types with their config JSON Schema',
    responses: { 200: { description: 'Catalog', ...json(z.object({ data: z.array(CatalogSchema) })) } },
  }),
  create: createRoute({
    method: 'post',
    path: '/v1/tenants/{tenantId}/plugins',
    tags: ['plugins'],
    summary: 'Register a plugin instance',
    security: [{ bearer: [] }],
    request: {
      params: TenantParam,
      body: {
        required: true,
        ...json(
          z.strictObject({
            type: z.string().openapi({ example: 'redact' }),
            name: z
              .string()
              .min(1)
              .max(100)
              .regex(/^[a-z0-9][a-z0-9_.-]*$/, 'lowercase letters, digits, _ . -'),
            config: z.record(z.string(), z.unknown()).default({}),
            event_types: Patterns.default(['**']).openapi({ description: 'validators and transformers apply to matching event types' }),
            position: z.number().int().min(-1000).max(1000).default(0).openapi({ description: 'run order within its kind, ascending' }),
            enabled: z.boolean().default(true),
          }),
        ),
      },
    },
    responses: { 201: { description: 'Registered', ...json(PluginSchema) }, ...problemResponses(401, 404, 409, 422, 501) },
  }),
  list: createRoute({
    method: 'get',
    path: '/v1/tenants/{tenantId}/plugins',
    tags: ['plugins'],
    summary: 'List plugin instances',
    security: [{ bearer: [] }],
    request: { params: TenantParam, query: PageQuery.extend({ kind: z.enum(['verifier', 'validator', 'transformer', 'action']).optional() }) },
    responses: {
      200: { description: 'A page', ...json(z.object({ data: z.array(PluginSchema), next_cursor: z.string().nullable() })) },
      ...problemResponses(400, 401, 404),
    },
  }),
  get: createRoute({
    method: 'get',
    path: '/v1/tenants/{tenantId}/plugins/{pluginId}',
    tags: ['plugins'],
    summary: 'Read a plugin instance',
    security: [{ bearer: [] }],
    request: { params: PluginParams },
    responses: { 200: { description: 'The instance (ETag for If-Match)', ...json(PluginSchema) }, ...problemResponses(401, 404) },
  }),
  update: createRoute({
    method: 'patch',
    path: '/v1/tenants/{tenantId}/plugins/{pluginId}',
    tags: ['plugins'],
    summary: 'Change a plugin instance (takes effect on the next event)',
    security: [{ bearer: [] }],
    request: {
      params: PluginParams,
      headers: z.object({ 'if-match': z.string().optional() }),
      body: {
        required: true,
        ...json(
          z.strictObject({
            name: z.string().min(1).max(100).optional(),
            config: z.record(z.string(), z.unknown()).optional(),
            event_types: Patterns.optional(),
            position: z.number().int().min(-1000).max(1000).optional(),
            enabled: z.boolean().optional(),
          }),
        ),
      },
    },
    responses: { 200: { description: 'Updated', ...json(PluginSchema) }, ...problemResponses(401, 404, 412, 422, 501) },
  }),
  remove: createRoute({
    method: 'delete',
    path: '/v1/tenants/{tenantId}/plugins/{pluginId}',
    tags: ['plugins'],
    summary: 'Delete a plugin instance',
    security: [{ bearer: [] }],
    request: { params: PluginParams },
    responses: { 204: { description: 'Deleted' }, ...problemResponses(401, 404, 409) },
  }),
};

const notFound = (id: string) => new ProblemError(problem(404, 'plugin_not_found', `no plugin instance ${id}`));

export function registerPlugins(app: OpenAPIHono<AppEnv>): void {
  app.openapi(routes.catalog, (c) => c.json({ data: catalog() }, 200));
  registerPluginTest(app);

  app.openapi(routes.create, async (c) => {
    const { tenantId } = c.req.valid('param');
    await loadTenant(c, tenantId);
    const body = c.req.valid('json');
    const type = requirePluginType(body.type, '/type');
    const config = await sealPluginConfig(c, type, await acceptPluginConfig(c, tenantId, type, body.config, '/config'));
    const db = c.var.db;
    const row = await changeConfig(c, tenantId, async () => {
      await assertBelowLimit(db, tenantId, 'plugins');
      const row = await insertPlugin(db, {
        id: newId('plg'),
        tenantId,
        type: type.id,
        kind: type.kind,
        name: body.name,
        config,
        eventTypes: body.event_types,
        position: body.position,
        enabled: body.enabled,
      }).catch((error: unknown) => {
        if (String(error).includes('plugins_tenant_id_name_key'))
          throw new ProblemError(problem(409, 'plugin_name_taken', `a plugin instance named ${body.name} exists`));
        throw error;
      });
      await recordAudit(db, { tenantId, actor: actorOf(c.get('principal')), action: 'plugin.created', target: row.id, details: { type: type.id } });
      return row;
    });
    return c.json(present(row), 201, { etag: tag(row) });
  });

  app.openapi(routes.list, async (c) => {
    const { tenantId } = c.req.valid('param');
    await loadTenant(c, tenantId);
    const { cursor, limit, kind } = c.req.valid('query');
    const rows = await listPlugins(c.var.db, tenantId, { afterId: decodeCursor(cursor, CURSOR.id('plg')), kind, limit: limit + 1 });
    const page = rows.slice(0, limit);
    return c.json({ data: page.map(present), next_cursor: rows.length > limit ? encodeCursor(page.at(-1)!.id) : null }, 200);
  });

  app.openapi(routes.get, async (c) => {
    const { tenantId, pluginId } = c.req.valid('param');
    await loadTenant(c, tenantId);
    const row = await findPlugin(c.var.db, tenantId, pluginId);
    if (!row) throw notFound(pluginId);
    return c.json(present(row), 200, { etag: tag(row) });
  });

  app.openapi(routes.update, async (c) => {
    const { tenantId, pluginId } = c.req.valid('param');
    await loadTenant(c, tenantId);
    const body = c.req.valid('json');
    const db = c.var.db;
    const current = await findPlugin(db, tenantId, pluginId);
    if (!current) throw notFound(pluginId);
    const expected = ifMatchVersion(c.req.valid('header')['if-match'], current);
    const type = pluginType(current.type);
    let replaced: unknown;
    if (body.config !== undefined)
      replaced = await acceptPluginConfig(c, tenantId, requirePluginType(current.type, '/type'), body.config, '/config', current.config);
    // any write seals what a row from before sealing still holds in plain text
    else if (hasPlainSecrets(type, current.config)) replaced = current.config;
    const config = replaced === undefined ? undefined : await sealPluginConfig(c, type, replaced);
    const row = await changeConfig(c, tenantId, async () => {
      const row = await updatePlugin(
        db,
        tenantId,
        pluginId,
        { name: body.name, config, eventTypes: body.event_types, position: body.position, enabled: body.enabled },
        expected,
      );
      if (!row) throw changedMeanwhile();
      await recordAudit(db, {
        tenantId,
        actor: actorOf(c.get('principal')),
        action: 'plugin.updated',
        target: pluginId,
        details: { fields: Object.keys(body) },
      });
      return row;
    });
    return c.json(present(row), 200, { etag: tag(row) });
  });

  app.openapi(routes.remove, async (c) => {
    const { tenantId, pluginId } = c.req.valid('param');
    await loadTenant(c, tenantId);
    const db = c.var.db;
    const users = await pluginUsers(db, tenantId, pluginId);
    if (users.length > 0) throw new ProblemError(problem(409, 'plugin_in_use', `the instance is used by ${users.join(', ')}; change those first`));
    await changeConfig(c, tenantId, async () => {
      const deleted = await deletePlugin(db, tenantId, pluginId).catch((error: unknown) => {
        // a source started using it after the check above
        if (errorProperty(error, 'code') === '23503') throw new ProblemError(problem(409, 'plugin_in_use', 'the instance is in use; change its users first'));
        throw error;
      });
      if (!deleted) throw notFound(pluginId);
      await recordAudit(db, { tenantId, actor: actorOf(c.get('principal')), action: 'plugin.deleted', target: pluginId });
    });
    return c.body(null, 204);
  });
}
