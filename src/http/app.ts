import { OpenAPIHono } from '@hono/zod-openapi';
import type { ExecutionContext } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { issuesToErrors, problem, ProblemError } from '../lib/problem';
import type { AppEnv } from './context';
import { requireAuth } from './middleware/auth';
import { requireTenantScope } from './middleware/tenant-scope';
import { registerDocs } from './openapi';
import { database } from './middleware/database';
import { requestId, requestIdOf } from './middleware/request-id';
import { requireValidSettings } from './middleware/settings';
import { databaseRefusal } from './database-refusal';
import { inputGuard } from './middleware/input-guard';
import { drainIfUnread, drainUnreadBody } from './body';
import { methodNotAllowed } from './method-not-allowed';
import { problemResponse } from './problem-response';
import { NOT_FOUND_BY_PARAM } from './schemas';
import { registerDeliveries } from './routes/deliveries';
import { registerEventTypes } from './routes/event-types';
import { registerEvents } from './routes/events';
import { registerEventsStream } from './routes/events-stream';
import { registerHealth } from './routes/health';
import { answerIngest, ingestSourceId, registerIngest } from './routes/ingest';
import { registerListeners } from './routes/listeners';
import { registerPlugins } from './routes/plugins';
import { registerReplays } from './routes/replays';
import { registerRetention } from './routes/retention';
import { registerArchives } from './routes/archives';
import { registerSources } from './routes/sources';
import { registerSubscriptions } from './routes/subscriptions';
import { registerTenants } from './routes/tenants';
import { registerAuditLog } from './routes/audit-log';
import { registerMetrics } from './routes/metrics';
import { registerPrometheus } from './routes/prometheus';
import { registerQuarantine } from './routes/quarantine';
import { registerRotation } from './routes/rotation';
import { registerPortalLinks } from './routes/portal-links';
import { registerConsole } from './console';
import { errorProperty } from '../lib/errors';
import { configOf } from '../config';

export function createApp(): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (result.success) return;
      // a path id that cannot exist names nothing: the resource's 404, before any query
      // (the tenant first: another tenant's resource answers like a missing tenant)
      const params = result.target === 'param' ? result.error.issues.map((i) => String(i.path[0])).filter((p) => p in NOT_FOUND_BY_PARAM) : [];
      const param = params.includes('tenantId') ? 'tenantId' : params[0];
      if (param) throw new ProblemError(problem(404, NOT_FOUND_BY_PARAM[param]!, `no ${param.replace(/Id$/, '')} with that id`));
      const errors = issuesToErrors(result.error.issues);
      const where = result.target === 'json' ? 'request body' : result.target;
      throw new ProblemError(problem(422, 'validation_failed', `the ${where} is invalid`, { errors }));
    },
  });

  app.use('*', drainUnreadBody, requestId, requireValidSettings);
  app.use('/v1/tenants/*', database, requireAuth, requireTenantScope, inputGuard);
  app.use('/v1/tenants', database, requireAuth, inputGuard);
  app.use('/readyz', database);

  registerHealth(app);
  registerIngest(app);
  registerTenants(app);
  registerSources(app);
  // before registerEvents: its /events/{eventId} would take `stream` for an id
  registerEventsStream(app);
  registerEvents(app);
  registerPlugins(app);
  registerEventTypes(app);
  registerSubscriptions(app);
  registerListeners(app);
  registerDeliveries(app);
  registerReplays(app);
  registerRetention(app);
  registerArchives(app);
  registerRotation(app);
  registerMetrics(app);
  registerPrometheus(app);
  registerQuarantine(app);
  registerAuditLog(app);
  registerPortalLinks(app);
  registerDocs(app);
  registerConsole(app);

  app.notFound((c) => {
    const { pathname } = new URL(c.req.url);
    const wrongMethod = methodNotAllowed(app.routes, c.req.method, pathname);
    return problemResponse(wrongMethod ?? problem(404, 'not_found', `no route for ${c.req.method} ${pathname}`), c.get('requestId'));
  });

  app.onError((error, c) => answerError(error, c.get('requestId')));

  // POST /v1/ingest/{id}, every producer's request, skips the router and the middleware chain: what the
  // chain does for it (request id, settings check, draining an unread body, the error answer) is done
  // inline. Anything else, and a request without an execution context (app.request in tests), is routed.
  const routed = app.fetch;
  app.fetch = (request, env, executionCtx) => {
    const sourceId = executionCtx && request.method === 'POST' ? ingestSourceId(request.url) : null;
    return executionCtx && sourceId ? leanIngest(request, env as Env, executionCtx, sourceId) : routed(request, env, executionCtx);
  };

  return app;
}

async function leanIngest(request: Request, env: Env, executionCtx: ExecutionContext, sourceId: string): Promise<Response> {
  const requestId = requestIdOf(request.headers.get('x-request-id'));
  let response: Response;
  try {
    configOf(env);
    response = await answerIngest({ request, env, executionCtx, sourceId, requestId });
  } catch (error) {
    response = answerError(error, requestId);
  }
  await drainIfUnread(request);
  return response;
}

/** The answer to an error a handler threw: its problem, the database's refusal of a value, else a logged 500. */
function answerError(error: unknown, id: string): Response {
  if (error instanceof ProblemError) return problemResponse(error.problem, id);
  if (error instanceof HTTPException) {
    const malformed = error.status === 400 && /json/i.test(error.message);
    // the same codes ingest uses for the same statuses
    const code = malformed ? 'malformed_json' : error.status === 415 ? 'unsupported_media_type' : error.status === 413 ? 'payload_too_large' : 'bad_request';
    const detail = error.status === 415 ? 'send the body as application/json' : error.message || 'bad request';
    return problemResponse(problem(error.status, code, detail), id);
  }
  const refused = databaseRefusal(error);
  if (refused) {
    console.warn(JSON.stringify({ msg: 'database refused a request value', requestId: id, error: String(error) }));
    return problemResponse(refused, id);
  }
  console.error(JSON.stringify({ msg: 'unhandled error', requestId: id, error: String(error), stack: errorProperty(error, 'stack') }));
  return problemResponse(problem(500, 'internal_error', 'an unexpected error occurred; it has been logged'), id);
}
