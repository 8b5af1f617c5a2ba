import { OpenAPIHono } from '@hono/zod-openapi';
import { HTTPException } from 'hono/http-exception';
import { issuesToErrors, problem, ProblemError } from '../ingest/problem';
import type { AppEnv } from './context';
import { requireAuth } from './middleware/auth';
import { requireTenantScope } from './middleware/tenant-scope';
import { registerDocs } from './openapi';
import { database } from './middleware/database';
import { requestId } from './middleware/request-id';
import { problemResponse } from './problem-response';
import { registerDeliveries } from './routes/deliveries';
import { registerEventTypes } from './routes/event-types';
import { registerEvents } from './routes/events';
import { registerHealth } from './routes/health';
import { registerIngest } from './routes/ingest';
import { registerPlugins } from './routes/plugins';
import { registerReplays } from './routes/replays';
import { registerSources } from './routes/sources';
import { registerSubscriptions } from './routes/subscriptions';
import { registerTenants } from './routes/tenants';
import { registerAuditLog } from './routes/audit-log';
import { registerMetrics } from './routes/metrics';
import { registerRotation } from './routes/rotation';

export function createApp(): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (result.success) return;
      const errors = issuesToErrors(result.error.issues);
      const where = result.target === 'json' ? 'request body' : result.target;
      throw new ProblemError(problem(422, 'validation_failed', `the ${where} is invalid`, { errors }));
    },
  });

  app.use('*', requestId);
  app.use('/v1/tenants/*', database, requireAuth, requireTenantScope);
  app.use('/v1/tenants', database, requireAuth);
  app.use('/readyz', database);

  registerHealth(app);
  registerIngest(app);
  registerTenants(app);
  registerSources(app);
  registerEvents(app);
  registerPlugins(app);
  registerEventTypes(app);
  registerSubscriptions(app);
  registerDeliveries(app);
  registerReplays(app);
  registerRotation(app);
  registerMetrics(app);
  registerAuditLog(app);
  registerDocs(app);

  app.notFound((c) => problemResponse(problem(404, 'not_found', `no route for ${c.req.method} ${new URL(c.req.url).pathname}`), c.get('requestId')));

  app.onError((error, c) => {
    const id = c.get('requestId');
    if (error instanceof ProblemError) return problemResponse(error.problem, id);
    if (error instanceof HTTPException) {
      const malformed = error.status === 400 && /json/i.test(error.message);
      return problemResponse(problem(error.status, malformed ? 'malformed_json' : 'bad_request', error.message || 'bad request'), id);
    }
    console.error(JSON.stringify({ msg: 'unhandled error', requestId: id, error: String(error), stack: (error as Error).stack }));
    return problemResponse(problem(500, 'internal_error', 'an unexpected error occurred; it has been logged'), id);
  });

  return app;
}
