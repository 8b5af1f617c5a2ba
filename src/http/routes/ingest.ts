import { z } from '@hono/zod-openapi';
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { ExecutionContext } from 'hono';
import { configOf } from '../../config';
import { verifierFetch } from '../../delivery/verifier-egress';
import { acceptIngest } from '../../ingest/pipeline';
import { appendPackedTo } from '../../ingest/packed-append';
import { appendSharded } from '../../ingest/shard-append';
import { shardLog } from '../../tenancy/shard-routing';
import { countOutcome, countRejection, RATE_LIMIT_BYPASSED } from '../../ingest/rejections';
import { ingestLimiter } from '../../ratelimit/ingest-limiter';
import { requestSandboxes } from '../../sandbox';
import { rulesKey, skipSharedOnce } from '../../tenancy/shared-cache';
import { forgetSource, fresherSource, resolveSource } from '../../tenancy/sources';
import { forgetTenantRules, tenantRules } from '../../tenancy/tenant-rules';
import { schemaVersionLoader } from '../../tenancy/schema-versions';
import { readBody } from '../body';
import type { AppEnv } from '../context';
import { problemResponse } from '../problem-response';
import { problem } from '../../lib/problem';
import { endIngestSpan, startIngestSpan, tracedAppend } from '../../observability/ingest-spans';
import { exportSpans } from '../../observability/spans';
import { idPattern, problemResponses } from '../schemas';
import { syncActionsFor } from './ingest-sync';

const SyncActionOutcome = z
  .object({
    subscription_id: z.string(),
    status: z.enum(['delivered', 'failed', 'timeout', 'skipped']),
    response_status: z.number().int().optional().describe("the receiver's HTTP status, when it answered"),
    detail: z.string().optional().describe('why a skipped action did not run here (the queue delivers it)'),
  })
  .openapi('SyncActionOutcome');
const Accepted = z
  .object({
    id: z.string(),
    sequence: z.number().int(),
    duplicate: z.boolean(),
    actions: z
      .array(SyncActionOutcome)
      .optional()
      .describe("single events only, when sync-mode subscriptions matched: each one's outcome; a failed or timed-out one is retried through the queue"),
  })
  .openapi('IngestAccepted');

export function registerIngest(app: OpenAPIHono<AppEnv>): void {
  app.openAPIRegistry.registerPath({
    method: 'post',
    path: '/v1/ingest/{sourceId}',
    tags: ['ingest'],
    summary: 'Send one event, a batch, or a binary-mode CloudEvent to a source',
    description:
      "Authenticated by the source's verifier (Standard Webhooks headers by default). Answers 202 only after the events are durable. Batches answer 202 with one result per input event, in order.",
    request: { params: z.object({ sourceId: z.string().openapi({ example: 'src_01JD…' }) }) },
    responses: {
      202: {
        description: 'Accepted and durable',
        content: {
          'application/json': {
            schema: z.union([Accepted, z.object({ results: z.array(z.record(z.string(), z.unknown())) })]),
          },
        },
      },
      ...problemResponses(400, 401, 404, 409, 413, 415, 422, 503),
    },
  });

  app.post('/v1/ingest/:sourceId', function ingest(c) {
    return answerIngest({ request: c.req.raw, env: c.env, executionCtx: c.executionCtx, sourceId: c.req.param('sourceId'), requestId: c.get('requestId') });
  });
}

/** What answering an ingest request takes: from the Hono route above, or from app.ts's lean path that skips the router. */
export interface IngestCall {
  request: Request;
  env: Env;
  executionCtx: ExecutionContext;
  sourceId: string;
  requestId: string;
}

const SOURCE_ID = idPattern('src');
const INGEST_PATH = '/v1/ingest/';

/**
 * The source id of a request URL whose path is `/v1/ingest/<an id newId can make>` (query aside), else
 * null: anything else (an encoded, malformed or missing id, a trailing slash) is left to the router.
 */
export function ingestSourceId(url: string): string | null {
  const path = url.indexOf('/', url.indexOf('://') + 3);
  if (path < 0 || !url.startsWith(INGEST_PATH, path)) return null;
  const query = url.indexOf('?', path);
  const id = url.slice(path + INGEST_PATH.length, query < 0 ? undefined : query);
  return SOURCE_ID.test(id) ? id : null;
}

/** Answers an ingest request; every response carries `x-request-id`. Throws what the app's error handler answers. */
export async function answerIngest({ request, env, executionCtx, sourceId, requestId }: IngestCall): Promise<Response> {
  // an id newId cannot have made names no source; asking Postgres about it (a NUL) would fail
  if (!SOURCE_ID.test(sourceId)) return problemResponse(problem(404, 'source_not_found', 'no source with that id'), requestId);
  const body = await readBody(request);
  const waitUntil = (p: Promise<unknown>) => executionCtx.waitUntil(p);
  const limiter = ingestLimiter(env);
  let tenantId: string | undefined;
  const span = startIngestSpan(env, request.headers);
  const receivedAt = Date.now();
  const outcome = await acceptIngest(
    { sourceId, headers: request.headers, body, now: receivedAt, ingestSpan: span?.context },
    {
      resolveSource: async (id) => {
        const source = await resolveSource(env, id, waitUntil);
        tenantId = source?.tenantId ?? tenantId;
        return source;
      },
      fresher: (source) => fresherSource(env, source, waitUntil),
      rateLimit: (source) => limiter.limit(source),
      bypassedRateLimit: (source) => countRejection(env, source.tenantId, RATE_LIMIT_BYPASSED, waitUntil),
      rules: (tenantId) => tenantRules(env, tenantId, waitUntil),
      schemaVersion: schemaVersionLoader(env, waitUntil),
      append: (tenantId, request) =>
        tracedAppend(span, { 'switchyard.tenant': tenantId, 'switchyard.events': request.items.length }, async () =>
          appendSharded(request, {
            append: (shard, r) => appendPackedTo(shardLog(env, tenantId, shard), r),
            claim: (shard, r) => shardLog(env, tenantId, shard).claim(r),
            dedupOf: (shard, keys) => shardLog(env, tenantId, shard).dedupOf(keys),
          }),
        ),
      sandbox: requestSandboxes(env, executionCtx),
      verifierFetch: verifierFetch(configOf(env).egressAllowlist),
      forget: (source) => {
        forgetSource(source.id);
        forgetTenantRules(source.tenantId);
        // the Redis copy may be as old as ours (see tenancy/shared-cache.ts)
        skipSharedOnce(rulesKey(source.tenantId));
      },
    },
  );
  if (tenantId) countOutcome(env, tenantId, outcome, waitUntil);
  if (span) waitUntil(exportSpans(endIngestSpan(span, sourceId, tenantId, outcome)));
  switch (outcome.kind) {
    case 'problem':
      return problemResponse(outcome.problem, requestId);
    case 'single': {
      const { status, ...result } = outcome.result;
      // sync-mode subscriptions run now, after the event is durable (src/delivery/sync-actions.ts)
      const actions = await syncActionsFor({ env, executionCtx }, outcome, receivedAt);
      return jsonResponse(actions.length > 0 ? { ...result, actions } : result, status, limiter.headers(), requestId);
    }
    case 'batch':
      return jsonResponse({ results: outcome.results }, 202, limiter.headers(), requestId);
  }
}

function jsonResponse(body: unknown, status: number, headers: Record<string, string>, requestId: string): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', 'x-request-id': requestId, ...headers } });
}
