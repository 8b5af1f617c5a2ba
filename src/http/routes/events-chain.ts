/**
 * `GET /v1/tenants/{t}/events/{id}/chain`: the event's causation ancestors and descendants (through
 * the CloudEvents extensions `causationid` → the producer's `id`) and its correlation group (same
 * `correlationid`), each bounded in depth and size with a `truncated` flag (db/event-chain.ts).
 */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { CHAIN_MAX_DEPTH, CHAIN_MAX_SIZE, eventChain } from '../../db/event-chain';
import { problem, ProblemError } from '../../lib/problem';
import type { AppEnv } from '../context';
import { idParam, problemResponses, TenantParam } from '../schemas';
import { loadTenant } from '../tenant-access';

const Link = z
  .object({
    id: z.string(),
    ce_id: z.string(),
    sequence: z.number().int(),
    type: z.string(),
    source: z.string(),
    subject: z.string().nullable(),
    time: z.string().nullable(),
    received_at: z.string(),
    causationid: z.string().nullable(),
    correlationid: z.string().nullable(),
    sha256: z.string(),
    depth: z.number().int().openapi({ description: 'causation steps from the event (0: the event itself; in the correlation group always 0)' }),
  })
  .openapi('ChainLink');

const Part = z.object({ data: z.array(Link), truncated: z.boolean().openapi({ description: 'more events lie beyond the depth or size bound' }) });

const ChainSchema = z
  .object({
    event: Link,
    ancestors: Part,
    descendants: Part,
    correlation: Part.extend({ correlation_id: z.string().nullable() }),
    limits: z.object({ depth: z.number().int(), size: z.number().int() }),
  })
  .openapi('EventChain');

const chainRoute = createRoute({
  method: 'get',
  path: '/v1/tenants/{tenantId}/events/{eventId}/chain',
  tags: ['events'],
  summary: "An event's causation ancestors and descendants and its correlation group",
  description: `Ancestors follow \`causationid\` to the event whose producer \`id\` equals it; descendants are the events whose \`causationid\` is this event's producer id. At most ${CHAIN_MAX_DEPTH} levels and ${CHAIN_MAX_SIZE} events per list, nearest first; the full events are at \`/events/{id}\`.`,
  security: [{ bearer: [] }],
  request: { params: TenantParam.extend({ eventId: idParam('evt', 'eventId') }) },
  responses: { 200: { description: 'The chain', content: { 'application/json': { schema: ChainSchema } } }, ...problemResponses(401, 404) },
});

export function registerEventChain(app: OpenAPIHono<AppEnv>): void {
  app.openapi(chainRoute, async (c) => {
    const { tenantId, eventId } = c.req.valid('param');
    await loadTenant(c, tenantId);
    const chain = await eventChain(c.var.db, tenantId, eventId);
    if (!chain) throw new ProblemError(problem(404, 'event_not_found', `no event ${eventId}`));
    return c.json({ ...chain, limits: { depth: CHAIN_MAX_DEPTH, size: CHAIN_MAX_SIZE } }, 200);
  });
}
