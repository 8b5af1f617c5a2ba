import { createApp } from './http/app';
import { consumeDeliveries } from './queues/delivery-consumer';

export { TenantLog } from './durable/tenant-log';
export { ScriptEgress } from './plugins/sandbox/egress';
export { RateLimiter } from './durable/rate-limiter';

const app = createApp();

export default {
  fetch: app.fetch,
  queue: (batch, env, ctx) => consumeDeliveries(batch, env, ctx),
} satisfies ExportedHandler<Env>;
