import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { redisConfigured, redisFor } from '../../lib/redis';
import type { AppEnv } from '../context';
import { errorMessage } from '../../lib/errors';

const healthz = createRoute({
  method: 'get',
  path: '/healthz',
  tags: ['health'],
  summary: 'Liveness: the Worker answers',
  responses: { 200: { description: 'Alive', content: { 'application/json': { schema: z.object({ status: z.literal('ok') }) } } } },
});

const Check = z.object({ ok: z.boolean(), latency_ms: z.number(), error: z.string().optional() });
const readyz = createRoute({
  method: 'get',
  path: '/readyz',
  tags: ['health'],
  summary: 'Readiness: Postgres answers (Redis, when configured, is reported; without it the service is degraded, not down)',
  responses: {
    200: { description: 'Ready', content: { 'application/json': { schema: z.object({ status: z.string(), checks: z.record(z.string(), Check) }) } } },
    503: { description: 'Not ready', content: { 'application/json': { schema: z.object({ status: z.string(), checks: z.record(z.string(), Check) }) } } },
  },
});

async function checkRedis(env: Env): Promise<z.infer<typeof Check> | null> {
  if (!redisConfigured(env)) return null;
  const started = Date.now();
  const redis = redisFor(env);
  if (!redis) return { ok: false, latency_ms: 0, error: 'skipped after a recent failure' };
  try {
    await redis.ping();
    return { ok: true, latency_ms: Date.now() - started };
  } catch (error) {
    return { ok: false, latency_ms: Date.now() - started, error: errorMessage(error) };
  }
}

export function registerHealth(app: OpenAPIHono<AppEnv>): void {
  app.openapi(healthz, (c) => c.json({ status: 'ok' as const }, 200));

  app.openapi(readyz, async (c) => {
    const started = Date.now();
    let postgres: z.infer<typeof Check>;
    try {
      await c.var.db.query('SELECT 1');
      postgres = { ok: true, latency_ms: Date.now() - started };
    } catch (error) {
      postgres = { ok: false, latency_ms: Date.now() - started, error: errorMessage(error) };
    }
    // Redis is optional: when it fails ingest degrades to its fallbacks, so it is reported, not required
    const redis = await checkRedis(c.env);
    const ok = postgres.ok;
    return c.json(
      { status: ok ? (redis?.ok === false ? 'degraded' : 'ready') : 'unavailable', checks: { postgres, ...(redis ? { redis } : {}) } },
      ok ? 200 : 503,
    );
  });
}
