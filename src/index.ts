import { createApp } from './http/app';

export { TenantLog } from './durable/tenant-log';

const app = createApp();

export default {
  fetch: app.fetch,
} satisfies ExportedHandler<Env>;
