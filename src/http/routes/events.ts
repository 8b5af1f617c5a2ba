import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { compileFilter } from '../../delivery/filter';
import { searchEvents } from '../../db/event-search';
import { getEvent, listEvents, type StoredEvent } from '../../db/events';
import { presentEvent } from '../../durable/stream-render';
import { problem, ProblemError } from '../../lib/problem';
import type { AppEnv } from '../context';
import { jsonProblem } from '../middleware/input-guard';
import { CURSOR, decodeCursor, encodeCursor, idParam, PageQuery, problemResponses, TenantParam, Timestamp } from '../schemas';
import { loadTenant } from '../tenant-access';
import { storedHorizon } from '../../tenancy/shard-routing';
import { assertFilterSize } from '../tenant-limits';
import { registerEventChain } from './events-chain';

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
    sha256: z.string().openapi({ description: 'hex SHA-256 of the event as the producer sent it (README: "Verifying an event")' }),
  })
  .catchall(z.unknown())
  .openapi('Event');

// one renderer for the API and the live stream (a streamed event is this JSON, byte for byte)
const present = (stored: StoredEvent) => presentEvent(stored) as z.infer<typeof EventSchema>;

const invalid = (code: string, detail: string, pointer: string) =>
  new ProblemError(problem(422, code, `the query is invalid at ${pointer}: ${detail}`, { errors: [{ pointer, detail }] }));

/** The `where` query checked as a subscription's `where` is, with the same codes. */
function parseWhere(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  let where: unknown;
  try {
    where = JSON.parse(text);
  } catch {
    throw invalid('invalid_filter', 'where must be JSON, e.g. {"data.amount":{"$gt":100}}', '/where');
  }
  const found = jsonProblem(where, '/where');
  if (found)
    throw new ProblemError(problem(422, found.code, `the query is invalid at ${found.error.pointer}: ${found.error.detail}`, { errors: [found.error] }));
  if (where !== null && (typeof where !== 'object' || Array.isArray(where))) throw invalid('validation_failed', 'expected an object of conditions', '/where');
  assertFilterSize(where);
  const compiled = compileFilter(where);
  if (!compiled.ok) {
    const errors = compiled.errors.map((e) => ({ ...e, pointer: `/where${e.pointer}` }));
    throw new ProblemError(problem(422, 'invalid_filter', 'the where filter is invalid', { errors }));
  }
  return where;
}

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
      schema_version: z.coerce
        .number()
        .int()
        .min(1)
        .max(1_000_000_000)
        .optional()
        .openapi({ description: "events validated by this version of their type's schema (its dataschema named it, or it was the newest); use with type" }),
      after: Timestamp.optional().openapi({ description: 'received at or after (RFC 3339)' }),
      before: Timestamp.optional().openapi({ description: 'received before (RFC 3339)' }),
      where: z
        .string()
        .optional()
        .openapi({ description: 'a subscription `where` filter as JSON, matched in SQL (README: "Searching events")', example: '{"data.amount":{"$gt":100}}' }),
    }),
  },
  responses: {
    200: {
      description: 'A page of events',
      content: { 'application/json': { schema: z.object({ data: z.array(EventSchema), next_cursor: z.string().nullable() }) } },
    },
    ...problemResponses(400, 401, 404, 422, 503),
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
    const { shard_span: shards } = await loadTenant(c, tenantId);
    const q = c.req.valid('query');
    // a multi-shard tenant reads in (received_at, sequence) order, up to its shards' horizon (README "Sharded tenants")
    const sharded = shards > 1;
    const cursor = decodeCursor(q.cursor, sharded ? CURSOR.position : CURSOR.sequence);
    const [receivedAtMs, afterPosition] = sharded && cursor !== undefined ? cursor.split(':').map(Number) : [];
    const position = sharded
      ? {
          horizonMs: await storedHorizon(c.env, tenantId, shards),
          ...(receivedAtMs !== undefined && afterPosition !== undefined ? { after: { receivedAtMs, sequence: afterPosition } } : {}),
        }
      : undefined;
    const where = parseWhere(q.where);
    const filter = {
      types: q.type?.split(',').filter(Boolean),
      subject: q.subject,
      correlationId: q.correlation_id,
      schemaVersion: q.schema_version,
      after: q.after,
      before: q.before,
      afterSequence: cursor === undefined || sharded ? undefined : Number(cursor),
      position,
      where,
      limit: q.limit + 1,
    };
    // only a `where` can make the query expensive: the other filters are index lookups
    const found =
      where === undefined ? { kind: 'page' as const, events: await listEvents(c.var.db, tenantId, filter) } : await searchEvents(c.var.db, tenantId, filter);
    if (found.kind === 'timeout') {
      const detail = `the search ran longer than ${found.ms} ms and was stopped; narrow it with type, subject, after/before or an equality on a data field (those use indexes)`;
      throw new ProblemError(problem(503, 'search_timeout', detail, { headers: { 'retry-after': '5' } }));
    }
    const rows = found.events;
    const page = rows.slice(0, q.limit);
    const last = page.at(-1);
    const next = rows.length > q.limit && last ? (sharded ? `${last.received_ms}:${last.sequence}` : last.sequence) : null;
    return c.json({ data: page.map(present), next_cursor: next === null ? null : encodeCursor(next) }, 200);
  });

  app.openapi(getRoute, async (c) => {
    const { tenantId, eventId } = c.req.valid('param');
    await loadTenant(c, tenantId);
    const stored = await getEvent(c.var.db, tenantId, eventId);
    if (!stored) throw new ProblemError(problem(404, 'event_not_found', `no event ${eventId}`));
    return c.json(present(stored), 200);
  });

  registerEventChain(app);
}
