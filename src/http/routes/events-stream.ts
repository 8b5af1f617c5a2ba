/**
 * `GET /v1/tenants/{t}/events/stream`: the tenant's events as they are acknowledged, over a WebSocket
 * or Server-Sent Events, filtered like a subscription and resumable with `since_sequence`. The
 * contract is the README's "Live event stream" section. Authentication and scopes are those of the
 * events API (`events:read`, checked by the tenant-scope middleware); this route validates the query
 * with the subscription validators and error codes, then hands the request to the tenant's TenantLog,
 * which owns the connections (durable/stream-hub.ts). A tenant with more than one shard is served by
 * the stream mux (../stream-mux.ts), which merges its shards' streams. Registered before the events
 * routes, whose `/events/{eventId}` would otherwise take `stream` for an event id.
 */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { decodeJwt } from 'jose';
import { compileFilter } from '../../delivery/filter';
import { STREAM_HEADERS } from '../../durable/stream-hub';
import { shardLog } from '../../tenancy/shard-routing';
import { parseStreamCursor, type StreamCursor } from '../stream-cursor';
import { openStreamMux, streamShardCount } from '../stream-mux';
import { issuesToErrors, problem, ProblemError, type Problem } from '../../lib/problem';
import { TypePatternSchema } from '../../lib/type-pattern';
import type { AppEnv } from '../context';
import { jsonProblem } from '../middleware/input-guard';
import { problemResponses, TenantParam } from '../schemas';
import { loadTenant } from '../tenant-access';
import { assertFilterSize } from '../tenant-limits';

/** As many patterns as a subscription may list. */
const MAX_TYPES = 50;
const CURSOR = /^\d{1,15}(,\d{1,15})*$/;

const invalid = (code: string, detail: string, pointer: string) =>
  new ProblemError(problem(422, code, `the query is invalid at ${pointer}: ${detail}`, { errors: [{ pointer, detail }] }));

const route = createRoute({
  method: 'get',
  path: '/v1/tenants/{tenantId}/events/stream',
  tags: ['events'],
  summary: 'Live events over a WebSocket or Server-Sent Events, resumable from a sequence',
  description: [
    'With `Upgrade: websocket`: text frames, each one JSON object: `{"type":"event","sequence":n,"event":{…}}` (the event exactly as',
    '`GET /v1/tenants/{tenantId}/events/{eventId}` returns it), then once, after the backlog, `{"type":"ready","head":n}`. The client may',
    'send `ping`; the server answers `pong`. Close codes: 4008 `slow_consumer`, 4401 `token_expired`, 4410 `tenant_deleted`,',
    '1012 `restarting`; after any close the client reconnects with `since_sequence` = the last sequence it processed.',
    'With `Accept: text/event-stream` (no Upgrade): `id: <sequence>`, `event: event`, `data: <the same JSON>` per event; `event: ready`',
    '(its `id` is the head); a `: keepalive` comment every 15 s; `Last-Event-ID` counts as `since_sequence` when the query has none.',
    "A tenant with more than one shard: the shards' streams merged in the events API's `(received_at, sequence)` order (up to ~200 ms",
    'more latency while other shards are idle; not hibernatable); `since_sequence` and Last-Event-ID take a comma list of per-shard last',
    'sequences (each names its shard, `floor(sequence / 10^13)`; a shard left out starts at its beginning; a single number still works);',
    'each event\'s SSE `id` is that list (shards at their beginning left out), and `ready` is `{"type":"ready","head":n,"cursor":"<list>"}`.',
  ].join(' '),
  security: [{ bearer: [] }],
  request: {
    params: TenantParam,
    query: z.object({
      types: z.string().optional().openapi({
        description: 'comma-separated event-type patterns, as subscription `types` (default `**`; `switchyard.*` system events only when named)',
        example: 'orders.*,payment.failed',
      }),
      where: z.string().optional().openapi({ description: 'JSON: a subscription `where` filter over the CloudEvent', example: '{"data.amount":{"$gt":100}}' }),
      since_sequence: z.string().regex(CURSOR, 'a sequence (an integer from 0), or a comma-separated list of one per shard').optional().openapi({
        description:
          'first send every stored event after this sequence, then live events (no gap, no duplicate); for a tenant with more than one shard, a comma list of at most 64 per-shard last sequences (the SSE `id` / `ready.cursor`)',
        example: '0',
      }),
    }),
    headers: z.object({
      upgrade: z.string().optional().openapi({ description: '`websocket` for a WebSocket', example: 'websocket' }),
      accept: z.string().optional().openapi({ description: '`text/event-stream` for Server-Sent Events', example: 'text/event-stream' }),
      'last-event-id': z
        .string()
        .optional()
        .openapi({ description: 'SSE resume point (a sequence or a per-shard list), used as `since_sequence` when the query has none' }),
    }),
  },
  responses: {
    101: { description: 'Switching Protocols: the WebSocket of the stream' },
    200: {
      description: 'The stream as Server-Sent Events',
      content: {
        'text/event-stream': { schema: z.string().openapi({ example: 'id: 42\nevent: event\ndata: {"type":"event","sequence":42,"event":{…}}\n\n' }) },
      },
    },
    ...problemResponses(401, 403, 404, 409, 422, 426),
  },
});

interface StreamQuery {
  types: string[] | null;
  where: unknown;
  /** Per shard; for a 1-shard tenant shard 0's is its `since_sequence` as ever. */
  since: StreamCursor | null;
}

/** The query checked the way a subscription's `types` and `where` are, with the same codes; the resume point against the shard count. */
function validateQuery(query: { types?: string; where?: string; since_sequence?: string }, lastEventId: string | undefined, shards: number): StreamQuery {
  let types: string[] | null = null;
  if (query.types !== undefined) {
    types = query.types.split(',');
    if (types.length > MAX_TYPES) throw invalid('validation_failed', `at most ${MAX_TYPES} patterns`, '/types');
    const errors = types.flatMap((pattern, i) => {
      const parsed = TypePatternSchema.safeParse(pattern);
      return parsed.success ? [] : issuesToErrors(parsed.error.issues, `/types/${i}`);
    });
    if (errors.length > 0) throw new ProblemError(problem(422, 'validation_failed', 'the query is invalid', { errors }));
  }
  let where: unknown = null;
  if (query.where !== undefined) {
    try {
      where = JSON.parse(query.where);
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
      throw new ProblemError(
        problem(422, 'invalid_filter', 'the where filter is invalid', { errors: compiled.errors.map((e) => ({ ...e, pointer: `/where${e.pointer}` })) }),
      );
    }
  }
  const [since, pointer] = query.since_sequence !== undefined ? [query.since_sequence, '/since_sequence'] : [lastEventId, '/last-event-id'];
  if (since === undefined) return { types, where, since: null };
  const parsed = parseStreamCursor(since, shards);
  if (!parsed.ok) throw invalid('validation_failed', parsed.detail, pointer);
  return { types, where, since: parsed.cursor };
}

export function registerEventsStream(app: OpenAPIHono<AppEnv>): void {
  app.openapi(route, async (c) => {
    const { tenantId } = c.req.valid('param');
    const shards = streamShardCount(await loadTenant(c, tenantId));
    const headers = c.req.valid('header');
    const query = validateQuery(c.req.valid('query'), headers['last-event-id'], shards);
    const websocket = headers.upgrade?.toLowerCase() === 'websocket';
    if (!websocket && !headers.accept?.includes('text/event-stream')) {
      throw new ProblemError(
        problem(426, 'upgrade_required', 'open the stream as a WebSocket (Upgrade: websocket) or as Server-Sent Events (Accept: text/event-stream)', {
          headers: { upgrade: 'websocket' },
        }),
      );
    }
    // verified by requireAuth; its expiry ends the stream (4401)
    const token = c.req.header('authorization')!.replace(/^Bearer\s+/i, '');
    const exp = decodeJwt(token).exp!;
    const search = new URLSearchParams();
    if (query.types) search.set('types', query.types.join(','));
    if (query.where !== null) search.set('where', JSON.stringify(query.where));
    if (shards > 1) {
      const transport = websocket ? 'ws' : 'sse';
      const opened = await openStreamMux(c.env, { tenantId, shards, search, exp, cursor: query.since, transport });
      if (!(opened instanceof Response)) throw new ProblemError(opened);
      return opened;
    }
    const forward = new Headers(c.req.raw.headers);
    forward.delete('authorization');
    // only this route speaks for the caller: whatever a client sent under these names is dropped
    for (const name of Object.values(STREAM_HEADERS)) forward.delete(name);
    forward.set(STREAM_HEADERS.tenant, tenantId);
    forward.set(STREAM_HEADERS.exp, String(exp));
    const since = query.since?.get(0);
    if (since !== undefined) forward.set(STREAM_HEADERS.since, String(since));
    const response = await shardLog(c.env, tenantId, 0).fetch(new Request(`https://tenant-log.internal/stream?${search}`, { headers: forward }));
    if (response.status >= 400) throw new ProblemError(await response.json<Problem>());
    return response;
  });
}
