import { z } from '@hono/zod-openapi';
import type { OpenAPIHono } from '@hono/zod-openapi';
import { configOf } from '../../config';
import { verifierFetch } from '../../delivery/verifier-egress';
import { acceptIngest } from '../../ingest/pipeline';
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

  app.post('/v1/ingest/:sourceId', async function ingest(c) {
    const sourceId = c.req.param('sourceId');
    // an id newId cannot have made names no source; asking Postgres about it (a NUL) would fail
    if (!idPattern('src').test(sourceId)) return problemResponse(problem(404, 'source_not_found', 'no source with that id'), c.get('requestId'));
    const body = await readBody(c.req.raw);
    const waitUntil = (p: Promise<unknown>) => c.executionCtx.waitUntil(p);
    const limiter = ingestLimiter(c.env);
    let tenantId: string | undefined;
    const span = startIngestSpan(c.env, c.req.raw.headers);
    const receivedAt = Date.now();
    const outcome = await acceptIngest(
      { sourceId, headers: c.req.raw.headers, body, now: receivedAt, ingestSpan: span?.context },
      {
        resolveSource: async (id) => {
          const source = await resolveSource(c.env, id, waitUntil);
          tenantId = source?.tenantId ?? tenantId;
          return source;
        },
        fresher: (source) => fresherSource(c.env, source, waitUntil),
        rateLimit: (source) => limiter.limit(source),
        bypassedRateLimit: (source) => countRejection(c.env, source.tenantId, RATE_LIMIT_BYPASSED, waitUntil),
        rules: (tenantId) => tenantRules(c.env, tenantId, waitUntil),
        schemaVersion: schemaVersionLoader(c.env, waitUntil),
        append: (tenantId, request) =>
          tracedAppend(span, { 'switchyard.tenant': tenantId, 'switchyard.events': request.items.length }, async () =>
            appendSharded(request, {
              append: (shard, r) => shardLog(c.env, tenantId, shard).append(r),
              claim: (shard, r) => shardLog(c.env, tenantId, shard).claim(r),
              dedupOf: (shard, keys) => shardLog(c.env, tenantId, shard).dedupOf(keys),
            }),
          ),
        sandbox: requestSandboxes(c.env, c.executionCtx),
        verifierFetch: verifierFetch(configOf(c.env).egressAllowlist),
        forget: (source) => {
          forgetSource(source.id);
          forgetTenantRules(source.tenantId);
          // the Redis copy may be as old as ours (see tenancy/shared-cache.ts)
          skipSharedOnce(rulesKey(source.tenantId));
        },
      },
    );
    if (tenantId) countOutcome(c.env, tenantId, outcome, waitUntil);
    if (span) waitUntil(exportSpans(endIngestSpan(span, sourceId, tenantId, outcome)));
    switch (outcome.kind) {
      case 'problem':
        return problemResponse(outcome.problem, c.get('requestId'));
      case 'single': {
        const { status, ...result } = outcome.result;
        // sync-mode subscriptions run now, after the event is durable (src/delivery/sync-actions.ts)
        const actions = await syncActionsFor(c, outcome, receivedAt);
        return c.json(actions.length > 0 ? { ...result, actions } : result, status, limiter.headers());
      }
      case 'batch':
        return c.json({ results: outcome.results }, 202, limiter.headers());
    }
  });
}
