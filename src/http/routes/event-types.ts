import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { compileSchema } from '../../lib/json-schema/compile';
import { recordAudit } from '../../db/audit';
import { actorOf } from '../../tenancy/principal';
import { deleteEventType, eventTypeVersions, insertEventTypeVersion, listEventTypes } from '../../db/event-types';
import { EVENT_TYPE } from '../../ingest/envelope';
import { problem, ProblemError } from '../../lib/problem';
import { changeConfig } from '../config-change';
import type { AppEnv } from '../context';
import { decodeCursor, encodeCursor, json, PageQuery, problemResponses, TenantParam } from '../schemas';
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
    summary: 'Register a new schema version for an event type (JSON Schema draft 2020-12); ingest validates data against the newest',
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
          }),
        ),
      },
    },
    responses: { 201: { description: 'The new version', ...json(EventTypeSchema) }, ...problemResponses(401, 404, 409, 422) },
  }),
  list: createRoute({
    method: 'get',
    path: '/v1/tenants/{tenantId}/event-types',
    tags: ['event-types'],
    security: [{ bearer: [] }],
    summary: 'List event types (newest version of each)',
    request: { params: TenantParam, query: PageQuery },
    responses: {
      200: { description: 'A page', ...json(z.object({ data: z.array(EventTypeSchema), next_cursor: z.string().nullable() })) },
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
    responses: { 200: { description: 'Newest first', ...json(EventTypeSchema.extend({ versions: z.array(EventTypeSchema) })) }, ...problemResponses(401, 404) },
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
      await assertSchemaBudget(db, tenantId, new TextEncoder().encode(JSON.stringify(body.schema)).length);
      const row = await insertEventTypeVersion(db, tenantId, type, body.schema, body.description ?? null);
      if (!row) throw new ProblemError(problem(409, 'concurrent_change', `${type} is being changed by other requests right now; retry`));
      await recordAudit(db, { tenantId, actor: actorOf(c.get('principal')), action: 'event_type.versioned', target: type, details: { version: row.version } });
      return row;
    });
    return c.json(row, 201);
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
    return c.json({ ...versions[0]!, versions }, 200);
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
