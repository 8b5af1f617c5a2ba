/**
 * `npm run bench:archive`: the retention job's archive throughput (events/s written to R2) and the size
 * of the archive against Postgres for the same events. A scratch database (scripts/lib/scratch-db.ts)
 * gets one tenant with ARCHIVE_EVENTS events (default 100,000, order-like payloads of ~600 bytes) over
 * five UTC days 40–44 days ago; the Worker bundle runs in workerd with wrangler.toml's bindings (local
 * R2 on disk), its Cron Trigger fired every few seconds, until the job has archived and deleted them all.
 * Throughput counts only the time inside runs (between the first and last part a run writes), not the
 * gaps between Cron ticks; the job's own bounds (RETENTION_LIMITS) apply as in production.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from '@neondatabase/serverless';
import { routeThroughLocalProxy } from './lib/postgres.ts';
import { bundleWorker, startRuntime } from './lib/runtime.ts';
import { scratchDatabase } from './lib/scratch-db.ts';
import { startWsProxy } from './lib/ws-proxy.ts';

const EVENTS = Number(process.env.ARCHIVE_EVENTS ?? 100_000);
const DAYS = 5;
const TENANT = 'tn_01ARCH1VEBENCH0000000000000';
const CRON_SECONDS = 6;
const DAY_MS = 86_400_000;

function seed(count: number): string {
  const start = Math.floor((Date.now() - 44 * DAY_MS) / DAY_MS) * DAY_MS;
  const spacing = (DAYS * DAY_MS) / count / 1000;
  return `
    INSERT INTO events (tenant_id, sequence, id, source_id, ce_id, ce_source, type, subject, time, partition_key, correlation_id, event, sha256, received_at)
    SELECT '${TENANT}', g, 'evt_' || lpad(g::text, 26, '0'), 'src_bench', 'ce-' || g, 'https://shop.example', t.type, 'customer/' || (g % 50000), ts,
           'cus_' || (g % 50000), 'corr-' || (g / 5),
           jsonb_build_object('specversion', '1.0', 'id', 'ce-' || g, 'source', 'https://shop.example', 'type', t.type,
             'subject', 'customer/' || (g % 50000), 'time', to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
             'partitionkey', 'cus_' || (g % 50000), 'correlationid', 'corr-' || (g / 5), 'datacontenttype', 'application/json',
             'data', jsonb_build_object('order_id', 'ord_' || g, 'amount', ((g * 7919) % 100000) / 100.0,
               'currency', (ARRAY['EUR', 'USD', 'GBP'])[1 + g % 3], 'status', (ARRAY['pending', 'paid', 'failed', 'refunded'])[1 + (g * 31) % 4],
               'customer', jsonb_build_object('id', 'cus_' || (g % 50000), 'email', 'customer' || (g % 50000) || '@example.com',
                 'tier', (ARRAY['gold', 'silver', 'bronze'])[1 + (g / 7) % 3]),
               'lines', jsonb_build_array(jsonb_build_object('sku', 'SKU-' || (g % 997), 'qty', 1 + g % 4, 'price', (g % 5000) / 100.0),
                                          jsonb_build_object('sku', 'SKU-' || (g % 991), 'qty', 1, 'price', (g % 3000) / 100.0)))),
           encode(sha256(g::text::bytea), 'hex'), ts
      FROM generate_series(1::int8, ${count}) AS g,
           LATERAL (SELECT (ARRAY['orders.created', 'orders.paid', 'orders.shipped', 'orders.refunded'])[1 + g % 4] AS type,
                           to_timestamp(${start / 1000} + g * ${spacing}) AS ts) AS t`;
}

interface PartRow {
  count: number;
  bytes: string;
  raw_bytes: string;
  at: string;
}

/** Events per second inside runs: parts less than a second apart belong to one run. */
function throughput(parts: PartRow[]): { eventsPerSecond: number; runs: number; activeSeconds: number } {
  let events = 0;
  let active = 0;
  let runs = 0;
  for (let i = 0; i < parts.length; i++) {
    const gap = i === 0 ? Number.POSITIVE_INFINITY : (Number(parts[i]!.at) - Number(parts[i - 1]!.at)) / 1000;
    // the first part of a run has no start time of its own: its run's rate is measured from it onwards
    // a part takes ~0.1-0.3 s; a new run starts at the next Cron tick, a second or more later
    if (gap > 1) runs++;
    else {
      events += parts[i]!.count;
      active += gap;
    }
  }
  return { eventsPerSecond: Math.round(events / active), runs, activeSeconds: Math.round(active * 10) / 10 };
}

async function main(): Promise<void> {
  const proxy = await startWsProxy();
  routeThroughLocalProxy(proxy.endpoint);
  const database = await scratchDatabase('switchyard_archive');
  const state = mkdtempSync(join(tmpdir(), 'switchyard-archive-'));
  const pg = new Client(database.url);
  await pg.connect();
  try {
    await pg.query(`INSERT INTO tenants (id, name) VALUES ($1, 'archive bench')`, [TENANT]);
    await pg.query(seed(EVENTS));
    await pg.query('ANALYZE events');
    const size = (
      await pg.query<{ total: string; rows: string; event: string }>(
        `SELECT pg_total_relation_size('events') AS total, (SELECT sum(pg_column_size(e.*)) FROM events e) AS rows,
                (SELECT sum(octet_length(event::text)) FROM events) AS event`,
      )
    ).rows[0]!;
    console.log(`seeded ${EVENTS} events over ${DAYS} days; Postgres: ${mib(size.total)} MiB with indexes and TOAST, ${mib(size.rows)} MiB of rows`);

    const bundle = await bundleWorker(join(state, 'bundle'));
    const runtime = await startRuntime({
      kind: 'bundle',
      script: bundle.script,
      persistDir: join(state, 'state'),
      cronEverySeconds: CRON_SECONDS,
      bindings: {
        ADMIN_JWT_SECRET: randomBytes(32).toString('base64url'),
        ENCRYPTION_KEY: randomBytes(32).toString('base64'),
        DATABASE_URL: database.url,
        NEON_WS_PROXY: proxy.endpoint,
      },
    });
    const started = Date.now();
    try {
      for (;;) {
        await sleep(2_000);
        const left = (await pg.query<{ n: number }>('SELECT count(*)::int AS n FROM events WHERE tenant_id = $1', [TENANT])).rows[0]!.n;
        const archived = (await pg.query<{ n: number }>('SELECT COALESCE(sum(count), 0)::int AS n FROM event_archives')).rows[0]!.n;
        process.stdout.write(`\r${Math.round((Date.now() - started) / 1000)} s: ${archived} archived, ${left} left in Postgres   `);
        if (left === 0) break;
        if (Date.now() - started > 30 * 60_000) throw new Error('the job did not finish in 30 minutes');
      }
    } finally {
      await runtime.stop();
    }
    const parts = (
      await pg.query<PartRow>(
        `SELECT count, bytes::text AS bytes, raw_bytes::text AS raw_bytes, (extract(epoch FROM created_at) * 1000)::int8::text AS at
           FROM event_archives ORDER BY created_at`,
      )
    ).rows;
    const gzip = parts.reduce((n, p) => n + Number(p.bytes), 0);
    const raw = parts.reduce((n, p) => n + Number(p.raw_bytes), 0);
    const rate = throughput(parts);
    const result = {
      events: EVENTS,
      parts: parts.length,
      archive_events_per_second: rate.eventsPerSecond,
      runs: rate.runs,
      active_seconds: rate.activeSeconds,
      wall_seconds_until_deleted: Math.round((Date.now() - started) / 1000),
      archive_gzip_bytes: gzip,
      archive_ndjson_bytes: raw,
      postgres_total_bytes: Number(size.total),
      postgres_row_bytes: Number(size.rows),
      postgres_event_json_bytes: Number(size.event),
      ratio_archive_to_postgres_total: round(gzip / Number(size.total)),
      ratio_archive_to_postgres_rows: round(gzip / Number(size.rows)),
      gzip_ratio: round(gzip / raw),
    };
    console.log(`\n${JSON.stringify(result, null, 2)}`);
  } finally {
    await pg.end();
    await database.stop();
    await proxy.close();
    rmSync(state, { recursive: true, force: true });
  }
}

const mib = (bytes: string | number) => (Number(bytes) / 1024 / 1024).toFixed(1);
const round = (n: number) => Math.round(n * 1000) / 1000;

await main();
