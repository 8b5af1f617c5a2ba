import { createMiddleware } from 'hono/factory';
import type { AppEnv } from '../context';

export const requestId = createMiddleware<AppEnv>(async function requestId(c, next) {
  const incoming = c.req.header('x-request-id');
  const id = incoming && /^[\w.-]{1,64}$/.test(incoming) ? incoming : crypto.randomUUID();
  c.set('requestId', id);
  await next();
  c.res.headers.set('x-request-id', id);
});
