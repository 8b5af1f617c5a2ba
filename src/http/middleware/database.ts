import { createMiddleware } from 'hono/factory';
import { lazyDb } from '../../db/client';
import type { AppEnv } from '../context';

/** Gives the request one lazily opened Postgres connection and closes it after the response. */
export const database = createMiddleware<AppEnv>(async function database(c, next) {
  const db = lazyDb(c.env);
  c.set('db', db);
  try {
    await next();
  } finally {
    c.executionCtx.waitUntil(db.end().catch(() => {}));
  }
});
