import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../context';

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
  summary: 'Readiness: Postgres answers',
  responses: {
    200: { description: 'Ready', content: { 'application/json': { schema: z.object({ status: z.string(), checks: z.record(z.string(), Check) }) } } },
    503: { description: 'Not ready', content: { 'application/json': { schema: z.object({ status: z.string(), checks: z.record(z.string(), Check) }) } } },
  },
});

export function registerHealth(app: OpenAPIHono<AppEnv>): void {
  app.openapi(healthz, (c) => c.json({ status: 'ok' as const }, 200));

  app.openapi(readyz, async (c) => {
    const started = Date.now();
    let postgres: z.infer<typeof Check>;
    try {
      await c.var.db.query('SELECT 1');
      postgres = { ok: true, latency_ms: Date.now() - started };
    } catch (error) {
      postgres = { ok: false, latency_ms: Date.now() - started, error: String((error as Error).message ?? error) };
    }
    const ok = postgres.ok;
    return c.json({ status: ok ? 'ready' : 'unavailable', checks: { postgres } }, ok ? 200 : 503);
  });
}
