// first: the routes' documentation lists the plugin types it installs
import './built-ins';
import { createApp } from './http/app';
import { withDb } from './db/client';
import { probeOpenBreakers } from './delivery/breaker';
import { redriveStranded } from './delivery/redrive';
import { releaseScheduled } from './delivery/schedule-sweep';
import { sealLegacySecrets } from './tenancy/seal-legacy-secrets';
import { runArchivePurges } from './archive/purge';
import { resumeShardMoves } from './tenancy/shard-change';
import { runRetention } from './archive/retention-job';
import { consumeDeliveries } from './queues/delivery-consumer';

export { TenantLog } from './durable/tenant-log';
export { ScriptEgress } from './sandbox/egress';
export { RateLimiter } from './durable/rate-limiter';

const app = createApp();

export default {
  fetch: app.fetch,
  queue: (batch, env, ctx) => consumeDeliveries(batch, env, ctx),
  // the Cron Trigger of wrangler.toml: send deliveries whose queue message was lost
  scheduled: async (_controller, env, ctx) => {
    await withDb(
      env,
      (db) => redriveStranded(db, env),
      (p) => ctx.waitUntil(p),
    );
    // release scheduled deliveries that are due (src/delivery/schedule-sweep.ts)
    await withDb(
      env,
      (db) => releaseScheduled(db, env),
      (p) => ctx.waitUntil(p),
    ).catch((error: unknown) => console.error(JSON.stringify({ msg: 'schedule sweep failed', error: String(error) })));
    // changes of a shard count still moving after a minute get their plans sent again (src/tenancy/shard-change.ts)
    await withDb(
      env,
      (db) => resumeShardMoves(db, env),
      (p) => ctx.waitUntil(p),
    ).catch((error: unknown) => console.error(JSON.stringify({ msg: 'resuming shard moves failed', error: String(error) })));
    // probe the endpoints whose circuit breaker is open (src/delivery/breaker.ts)
    await withDb(
      env,
      (db) => probeOpenBreakers(db, env),
      (p) => ctx.waitUntil(p),
    ).catch((error: unknown) => console.error(JSON.stringify({ msg: 'breaker probes failed', error: String(error) })));
    // and seal plugin secrets that rows written before sealing still hold in plain text
    await withDb(
      env,
      (db) => sealLegacySecrets(db, env.ENCRYPTION_KEY),
      (p) => ctx.waitUntil(p),
    ).catch((error: unknown) => console.error(JSON.stringify({ msg: 'sealing legacy plugin secrets failed', error: String(error) })));
    // and the retention job: archive expired events to R2, then delete what is past retention (bounded per run)
    await withDb(
      env,
      (db) => runRetention(db, env),
      (p) => ctx.waitUntil(p),
    ).catch((error: unknown) => console.error(JSON.stringify({ msg: 'retention job failed', error: String(error) })));
    // and remove the R2 archives of deleted tenants (src/archive/purge.ts)
    await withDb(
      env,
      (db) => runArchivePurges(db, env.ARCHIVE),
      (p) => ctx.waitUntil(p),
    ).catch((error: unknown) => console.error(JSON.stringify({ msg: 'archive purge failed', error: String(error) })));
  },
} satisfies ExportedHandler<Env>;
