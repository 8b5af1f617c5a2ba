/**
 * Serves the Upstash Redis REST protocol in front of a local Redis, so `@upstash/redis` and
 * `@upstash/ratelimit` run against it (set UPSTASH_REDIS_REST_URL to the printed URL).
 *
 * env: UPSTASH_REDIS_REST_TOKEN (required), PORT (default 8079), HOST (default 127.0.0.1),
 *      REDIS_URL (default redis://127.0.0.1:6379)
 */
import { startUpstashRest } from './lib/upstash-rest.ts';

const token = process.env.UPSTASH_REDIS_REST_TOKEN;
if (!token) {
  console.error('upstash-rest: set UPSTASH_REDIS_REST_TOKEN');
  process.exit(1);
}
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const server = await startUpstashRest({
  port: Number(process.env.PORT ?? 8079),
  host: process.env.HOST,
  redisUrl,
  token,
});
console.log(server.url);

// the server starts regardless; a warning now saves a confusing 503 later
const ping = await fetch(`${server.url}/ping`, { headers: { authorization: `Bearer ${token}` } });
if (!ping.ok) console.error(`upstash-rest: Redis at ${redisUrl} does not answer yet: ${await ping.text()}`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => void server.close().then(() => process.exit(0)));
}
