import { createApp } from './http/app';
import { withDb } from './db/client';
import { redriveStranded } from './delivery/redrive';
import { consumeDeliveries } from './queues/delivery-consumer';

export { TenantLog } from './durable/tenant-log';
export { ScriptEgress } from './plugins/sandbox/egress';
export { RateLimiter } from './durable/rate-limiter';

const app = createApp();

export default {
  fetch: app.fetch,
  queue: (batch, env, ctx) => consumeDeliveries(batch, env, ctx),
  // the Cron Trigger of wrangler.toml: send deliveries whose queue message was lost
  scheduled: async (_controller, env, ctx) => {
    await withDb(env, (db) => redriveStranded(db, env), (p) => ctx.waitUntil(p));
  },
} satisfies ExportedHandler<Env>;
