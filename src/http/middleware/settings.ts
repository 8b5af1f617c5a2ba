import { createMiddleware } from 'hono/factory';
import { configOf } from '../../config';
import type { AppEnv } from '../context';

/**
 * Parses the Worker's settings (src/config.ts) before any route runs, so a malformed one answers
 * every request 500 with the setting named in the log, rather than only the paths that read it.
 */
export const requireValidSettings = createMiddleware<AppEnv>(async function requireValidSettings(c, next) {
  configOf(c.env);
  await next();
});
