import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { compileSchema } from '../../lib/json-schema/compile';
import { COMPATIBILITY_MODES } from '../../lib/json-schema/compat';
import { recordAudit } from '../../db/audit';
import { actorOf } from '../../tenancy/principal';
import { checkEvolution } from '../../tenancy/schema-evolution';
import {
  compatibilityOf,
  deleteEventType,
  eventTypeVersions,
  insertEventTypeVersion,
  listEventTypes,
  lockEventType,
  setCompatibility,
} from '../../db/event-types';
import { EVENT_TYPE } from '../../ingest/envelope';
import { problem, ProblemError } from '../../lib/problem';
import { changeConfig } from '../config-change';
import type { AppEnv } from '../context';
import { decodeCursor, encodeCursor, json, PageQuery, ProblemSchema, problemResponses, TenantParam } from '../schemas';
import { loadTenant } from '../tenant-access';
import { assertSchemaBudget } from '../tenant-limits';

const EventTypeSchema = z
  .object({
    type: z.string(),
    version: z.number().int(),
    schema: z.record(z.string(), z.unknown()),
    description: z.string().nullable(),
    created_at: z.string(),
  })
  .openapi('EventType');

const Compatibility = z.enum(COMPATIBILITY_MODES).openapi({
  description:
    'What a new schema version must keep (README "Schema evolution"): backward — it accepts everything the previous version accepted; forward — the previous version accepts everything it accepts; full — both; none — no check',
  example: 'backward',
});
const EventTypeWithMode = EventTypeSchema.extend({ compatibility: Compatibility }).openapi('EventTypeWithCompatibility');

const TypeParams = TenantParam.extend({
  type: z
    .string()
    .regex(EVENT_TYPE, 'dot-notation, e.g. orders.created')
    .openapi({ param: { name: 'type', in: 'path' }, example: 'orders.created' }),
});

const routes = {
  put: createRoute({
    method: 'put',
    path: '/v1/tenants/{tenantId}/event-types/{type}',
    tags: ['event-types'],
    security: [{ bearer: [] }],
    summary:
      "Register a new schema version for an event type (JSON Schema draft 2020-12), checked under the type's compatibility mode; ingest validates data against the newest, or the version an event's dataschema names",
    request: {
      params: TypeParams,
      body: {
        required: true,
        ...json(
          z.strictObject({
            schema: z
              .record(z.string(), z.unknown())
              .openapi({ example: { type: 'object', required: ['amount'], properties: { amount: { type: 'number', minimum: 0 } } } }),
            description: z.string().max(1000).optional(),
            compatibility: Compatibility.optional().openapi({ description: "Sets the type's mode (kept for later versions) and checks this version under it" }),
          }),
        ),
      },
    },
    responses: {
      201: { description: 'The new version', ...json(EventTypeWithMode) },
      ...problemResponses(401, 404, 422),
      409: {
        description:
          'schema_incompatible: the version breaks the compatibility mode (errors[] name each reason: JSON pointers into /schema, or the stored events it refuses); limit_reached; concurrent_change',
        content: { 'application/problem+json': { schema: ProblemSchema } },
      },
    },
  }),
  patch: createRoute({
    method: 'patch',
    path: '/v1/tenants/{tenantId}/event-types/{type}',
    tags: ['event-types'],
    security: [{ bearer: [] }],
    summary: "Change an event type's compatibility mode (applies to the versions registered from now on)",
    request: { params: TypeParams, body: { required: true, ...json(z.strictObject({ compatibility: Compatibility })) } },
    responses: { 200: { description: 'The newest version with the mode', ...json(EventTypeWithMode) }, ...problemResponses(401, 404, 422) },
  }),
  list: createRoute({
    method: 'get',
    path: '/v1/tenants/{tenantId}/event-types',
    tags: ['event-types'],
    security: [{ bearer: [] }],
    summary: 'List event types (newest version of each)',
    request: { params: TenantParam, query: PageQuery },
    responses: {
      200: { description: 'A page', ...json(z.object({ data: z.array(EventTypeWithMode), next_cursor: z.string().nullable() })) },
      ...problemResponses(400, 401, 404),
    },
  }),
  get: createRoute({
    method: 'get',
    path: '/v1/tenants/{tenantId}/event-types/{type}',
    tags: ['event-types'],
    security: [{ bearer: [] }],
    summary: 'Read an event type with all its versions',
    request: { params: TypeParams },
    responses: {
      200: { description: 'Newest first', ...json(EventTypeWithMode.extend({ versions: z.array(EventTypeSchema) })) },
      ...problemResponses(401, 404),
    },
  }),
  remove: createRoute({
    method: 'delete',
    path: '/v1/tenants/{tenantId}/event-types/{type}',
    tags: ['event-types'],
    security: [{ bearer: [] }],
    summary: 'Delete an event type; its schema stops applying on the next event',
    request: { params: TypeParams },
    responses: { 204: { description: 'Deleted' }, ...problemResponses(401, 404) },
  }),
};

export function registerEventTypes(app: OpenAPIHono<AppEnv>): void {
  app.openapi(routes.put, async (c) => {
    const { tenantId, type } = c.req.valid('param');
    await loadTenant(c, tenantId);
    const body = c.req.valid('json');
    const compiled = compileSchema(body.schema);
    if (!compiled.ok)
      throw new ProblemError(
        problem(422, 'invalid_schema', `the schema is not a valid JSON Schema: ${compiled.error}`, {
          errors: [{ pointer: `/schema${compiled.pointer ?? ''}`, detail: compiled.error }],
        }),
      );
    const db = c.var.db;
    const row = await changeConfig(c, tenantId, async () => {
      await lockEventType(db, tenantId, type);
      const verdict = await checkEvolution(db, tenantId, type, body.schema, compiled.validate, body.compatibility);
      if (!verdict.ok) throw new ProblemError(verdict.problem);
      await assertSchemaBudget(db, tenantId, new TextEncoder().encode(JSON.stringify(body.schema)).length);
      const row = await insertEventTypeVersion(db, tenantId, type, body.schema, body.description ?? null);
      if (!row) throw new ProblemError(problem(409, 'concurrent_change', `${type} is being changed by other requests right now; retry`));
      if (body.compatibility) await setCompatibility(db, tenantId, type, body.compatibility);
      const details = { version: row.version, compatibility: verdict.compatibility };
      await recordAudit(db, { tenantId, actor: actorOf(c.get('principal')), action: 'event_type.versioned', target: type, details });
      return { ...row, compatibility: verdict.compatibility };
    });
    return c.json(row, 201);
  });

  app.openapi(routes.patch, async (c) => {
    const { tenantId, type } = c.req.valid('param');
    await loadTenant(c, tenantId);
    const { compatibility } = c.req.valid('json');
    const db = c.var.db;
    const versions = await eventTypeVersions(db, tenantId, type);
    if (versions.length === 0) throw new ProblemError(problem(404, 'event_type_not_found', `no schema for ${type}`));
    await setCompatibility(db, tenantId, type, compatibility);
    await recordAudit(db, {
      tenantId,
      actor: actorOf(c.get('principal')),
      action: 'event_type.compatibility_changed',
      target: type,
      details: { compatibility },
    });
    return c.json({ ...versions[0]!, compatibility }, 200);
  });

  app.openapi(routes.list, async (c) => {
    const { tenantId } = c.req.valid('param');
    await loadTenant(c, tenantId);
    const { cursor, limit } = c.req.valid('query');
    const rows = await listEventTypes(c.var.db, tenantId, { afterType: decodeCursor(cursor, EVENT_TYPE), limit: limit + 1 });
    const page = rows.slice(0, limit);
    return c.json({ data: page, next_cursor: rows.length > limit ? encodeCursor(page.at(-1)!.type) : null }, 200);
  });

  app.openapi(routes.get, async (c) => {
    const { tenantId, type } = c.req.valid('param');
    await loadTenant(c, tenantId);
    const versions = await eventTypeVersions(c.var.db, tenantId, type);
    if (versions.length === 0) throw new ProblemError(problem(404, 'event_type_not_found', `no schema for ${type}`));
    return c.json({ ...versions[0]!, compatibility: await compatibilityOf(c.var.db, tenantId, type), versions }, 200);
  });

  app.openapi(routes.remove, async (c) => {
    const { tenantId, type } = c.req.valid('param');
    await loadTenant(c, tenantId);
    const db = c.var.db;
    await changeConfig(c, tenantId, async () => {
      if (!(await deleteEventType(db, tenantId, type))) throw new ProblemError(problem(404, 'event_type_not_found', `no schema for ${type}`));
      await recordAudit(db, { tenantId, actor: actorOf(c.get('principal')), action: 'event_type.deleted', target: type });
    });
    return c.body(null, 204);
  });
}
