import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { getEvent, listEvents, type StoredEvent } from '../../db/events';
import { presentEvent } from '../../durable/stream-render';
import { problem, ProblemError } from '../../lib/problem';
import type { AppEnv } from '../context';
import { CURSOR, decodeCursor, encodeCursor, idParam, PageQuery, problemResponses, TenantParam, Timestamp } from '../schemas';
import { loadTenant } from '../tenant-access';

/**
 * An event as the API shows it: the stored CloudEvent's attributes, with `id` being Switchyard's
 * `evt_` id and the producer's own id kept as `ce_id`.
 */
const EventSchema = z
  .object({
    id: z.string().openapi({ example: 'evt_01JD…' }),
    ce_id: z.string(),
    sequence: z.number().int(),
    source_id: z.string(),
    received_at: z.string(),
    specversion: z.string(),
    type: z.string(),
    source: z.string(),
    subject: z.string().optional(),
    time: z.string().optional(),
    data: z.unknown().optional(),
  })
  .catchall(z.unknown())
  .openapi('Event');

// one renderer for the API and the live stream (a streamed event is this JSON, byte for byte)
const present = (stored: StoredEvent) => presentEvent(stored) as z.infer<typeof EventSchema>;

const listRoute = createRoute({
  method: 'get',
  path: '/v1/tenants/{tenantId}/events',
  tags: ['events'],
  summary: 'List stored events in sequence order',
  security: [{ bearer: [] }],
  request: {
    params: TenantParam,
    query: PageQuery.extend({
      type: z.string().optional().openapi({ description: 'exact type; comma-separated for several' }),
      subject: z.string().optional(),
      correlation_id: z.string().optional(),
      after: Timestamp.optional().openapi({ description: 'received at or after (RFC 3339)' }),
      before: Timestamp.optional().openapi({ description: 'received before (RFC 3339)' }),
    }),
  },
  responses: {
    200: {
      description: 'A page of events',
      content: { 'application/json': { schema: z.object({ data: z.array(EventSchema), next_cursor: z.string().nullable() }) } },
    },
    ...problemResponses(400, 401, 404, 422),
  },
});

const getRoute = createRoute({
  method: 'get',
  path: '/v1/tenants/{tenantId}/events/{eventId}',
  tags: ['events'],
  summary: 'Read one stored event',
  security: [{ bearer: [] }],
  request: { params: TenantParam.extend({ eventId: idParam('evt', 'eventId') }) },
  responses: { 200: { description: 'The event', content: { 'application/json': { schema: EventSchema } } }, ...problemResponses(401, 404) },
});

export function registerEvents(app: OpenAPIHono<AppEnv>): void {
  app.openapi(listRoute, async (c) => {
    const { tenantId } = c.req.valid('param');
    await loadTenant(c, tenantId);
    const q = c.req.valid('query');
    const cursor = decodeCursor(q.cursor, CURSOR.sequence);
    const rows = await listEvents(c.var.db, tenantId, {
      types: q.type?.split(',').filter(Boolean),
      subject: q.subject,
      correlationId: q.correlation_id,
      after: q.after,
      before: q.before,
      afterSequence: cursor === undefined ? undefined : Number(cursor),
      limit: q.limit + 1,
    });
    const page = rows.slice(0, q.limit);
    return c.json({ data: page.map(present), next_cursor: rows.length > q.limit ? encodeCursor(page.at(-1)!.sequence) : null }, 200);
  });

  app.openapi(getRoute, async (c) => {
    const { tenantId, eventId } = c.req.valid('param');
    await loadTenant(c, tenantId);
    const stored = await getEvent(c.var.db, tenantId, eventId);
    if (!stored) throw new ProblemError(problem(404, 'event_not_found', `no event ${eventId}`));
    return c.json(present(stored), 200);
  });
}
