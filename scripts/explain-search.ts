/**
 * `npm run search:explain`: the plans and latency of typical `where` searches on a tenant with
 * 1,000,000 events (plus 200,000 of another tenant), in a scratch database (scripts/lib/scratch-db.ts).
 * The rows are made by one INSERT … SELECT over generate_series; each search is the SQL the events
 * API runs (db/events.ts listEvents with db/where-sql.ts), first under EXPLAIN (ANALYZE, BUFFERS),
 * then timed over a few runs (median).
 */
import { Client } from '@neondatabase/serverless';
import { whereToSql } from '../src/db/where-sql.ts';
import { routeThroughLocalProxy as throughLocalProxy } from './lib/postgres.ts';
import { scratchDatabase } from './lib/scratch-db.ts';
import { startWsProxy } from './lib/ws-proxy.ts';

const EVENTS = Number(process.env.EXPLAIN_EVENTS ?? 1_000_000);
const TENANT = 'tn_explain';
const RUNS = 5;

const SEARCHES: { name: string; where: unknown; type?: string; after?: string; before?: string }[] = [
  { name: 'equality on a nested field (≈20 matches)', where: { 'data.customer.id': 'cus_4242' } },
  { name: 'equality, no match', where: { 'data.status': 'lost' } },
  { name: '$in + type filter (many matches)', where: { 'data.status': { $in: ['failed', 'refunded'] } }, type: 'orders.paid' },
  { name: 'two equalities (many matches)', where: { $and: [{ 'data.currency': 'EUR' }, { 'data.customer.tier': 'gold' }] } },
  { name: 'equality + range', where: { 'data.customer.id': 'cus_4242', 'data.amount': { $gt: 500 } } },
  { name: 'range only (rare: ≈0.1 %)', where: { 'data.amount': { $gt: 999 } } },
  { name: '$startsWith, no index (few matches)', where: { 'data.order_id': { $startsWith: 'ord_99999' } } },
  // a time range: with the daily partitions of migration 0020, only that day's partition is read
  {
    name: 'equality within one day (time-bounded)',
    where: { 'data.customer.tier': 'gold' },
    after: '2026-01-05T00:00:00Z',
    before: '2026-01-06T00:00:00Z',
  },
];

function generate(tenant: string, count: number, offset: number): string {
  return `
    INSERT INTO events (tenant_id, sequence, id, source_id, ce_id, ce_source, type, subject, time, correlation_id, causation_id, event, sha256, received_at)
    SELECT '${tenant}', g, 'evt_' || lpad((g + ${offset})::text, 26, '0'), 'src_explain', 'ce-' || g, 'https://shop.example', t.type,
           'customer/' || (g % 50000), ts, 'corr-' || (g / 5), CASE WHEN g % 5 <> 0 THEN 'ce-' || (g - 1) END,
           jsonb_build_object('specversion', '1.0', 'id', 'ce-' || g, 'source', 'https://shop.example', 'type', t.type,
             'subject', 'customer/' || (g % 50000), 'time', to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
             'correlationid', 'corr-' || (g / 5),
             'data', jsonb_build_object('order_id', 'ord_' || g, 'amount', ((g * 7919) % 100000) / 100.0,
               'currency', (ARRAY['EUR', 'USD', 'GBP'])[1 + g % 3], 'status', (ARRAY['pending', 'paid', 'failed', 'refunded'])[1 + (g * 31) % 4],
               'customer', jsonb_build_object('id', 'cus_' || (g % 50000), 'tier', (ARRAY['gold', 'silver', 'bronze'])[1 + (g / 7) % 3]),
               'lines', jsonb_build_array(jsonb_build_object('sku', 'SKU-' || (g % 997), 'qty', 1 + g % 4)))),
           md5(g::text) || md5((g + 1)::text), ts
      FROM generate_series(1::int8, ${count}) AS g,
           LATERAL (SELECT (ARRAY['orders.created', 'orders.paid', 'orders.shipped', 'orders.refunded'])[1 + g % 4] AS type,
                           timestamptz '2026-01-01' + g * interval '1 second' AS ts) AS t`;
}

function listSql(where: unknown, type?: string, range: { after?: string; before?: string } = {}): { sql: string; params: unknown[] } {
  const params: unknown[] = [TENANT];
  const param = (value: unknown) => `$${params.push(value)}`;
  const clauses = ['tenant_id = $1'];
  if (type) clauses.push(`type = ANY(${param([type])})`);
  if (range.after) clauses.push(`received_at >= ${param(range.after)}`);
  if (range.before) clauses.push(`received_at < ${param(range.before)}`);
  clauses.push(whereToSql(where, param));
  return { sql: `SELECT id, sequence, event, sha256 FROM events WHERE ${clauses.join(' AND ')} ORDER BY sequence LIMIT ${param(101)}`, params };
}

async function main(): Promise<void> {
  const proxy = await startWsProxy();
  throughLocalProxy(proxy.endpoint);
  const database = await scratchDatabase('switchyard_explain');
  const client = new Client(database.url);
  await client.connect();
  try {
    console.log(
      `explain-search: Postgres ${database.kind}; loading ${EVENTS.toLocaleString('en')} events for ${TENANT} and ${(EVENTS / 5).toLocaleString('en')} for another tenant…`,
    );
    await client.query(`INSERT INTO tenants (id, name) VALUES ('${TENANT}', 'explain'), ('tn_other', 'other')`);
    // the days the rows fall on get their partitions first (migration 0020; else they would all land in the DEFAULT one)
    await client.query(`DO $$ BEGIN IF to_regproc('create_time_partition') IS NOT NULL THEN
      PERFORM create_time_partition('events', d) FROM generate_series(timestamptz '2026-01-01', timestamptz '2026-01-01' + interval '${EVENTS} seconds', interval '1 day') AS d;
    END IF; END $$`);
    let started = performance.now();
    await client.query(generate(TENANT, EVENTS, 0));
    await client.query(generate('tn_other', EVENTS / 5, EVENTS));
    // VACUUM sets the hint bits and the visibility map a long-lived table has, so the first plan is not a cold outlier
    await client.query('VACUUM ANALYZE events');
    const size = (
      await client.query<{ table: string; gin: string }>(
        `SELECT pg_size_pretty(COALESCE((SELECT sum(pg_table_size(relid)) FROM pg_partition_tree('events')), pg_table_size('events'))) AS table,
                pg_size_pretty(COALESCE((SELECT sum(pg_relation_size(relid)) FROM pg_partition_tree('events_payload_path_idx')),
                                        pg_relation_size('events_payload_path_idx'))) AS gin`,
      )
    ).rows[0]!;
    console.log(`loaded in ${((performance.now() - started) / 1000).toFixed(1)} s; table ${size.table}, GIN index ${size.gin}\n`);

    const summary: string[] = [];
    for (const search of SEARCHES) {
      const { sql, params } = listSql(search.where, search.type, search);
      const plan = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS) ${sql}`, params);
      const lines = plan.rows.map((r) => r['QUERY PLAN']);
      const times: number[] = [];
      let rows = 0;
      for (let i = 0; i < RUNS; i++) {
        started = performance.now();
        rows = (await client.query(sql, params)).rows.length;
        times.push(performance.now() - started);
      }
      times.sort((a, b) => a - b);
      const median = times[Math.floor(RUNS / 2)]!;
      const shape = lines
        .filter((l) => /Scan|Bitmap|Sort\s|Limit/.test(l) && !/Sort (Key|Method)/.test(l))
        .map((l) =>
          l
            .trim()
            .replace(/\s+\(cost.*$/, '')
            .replace(/^->\s*/, ''),
        );
      console.log(
        `── ${search.name}\n   where=${JSON.stringify(search.where)}${search.type ? ` type=${search.type}` : ''}${search.after ? ` received_at=[${search.after}, ${search.before})` : ''}`,
      );
      console.log(`   ${rows} rows (page of 100 + 1), median ${median.toFixed(1)} ms over ${RUNS} runs`);
      for (const line of lines) console.log(`   | ${line}`);
      const server = lines.find((l) => l.startsWith('Execution Time'))?.replace('Execution Time: ', '') ?? '?';
      summary.push(`| ${search.name} | ${median.toFixed(1)} ms | ${server} | ${shape.join(' → ')} |`);
      console.log('');
    }
    console.log('| search | median latency (client) | execution (EXPLAIN ANALYZE) | plan |\n|---|---|---|---|');
    for (const line of summary) console.log(line);
  } finally {
    await client.end();
    await database.stop();
    await proxy.close();
  }
}

await main();
