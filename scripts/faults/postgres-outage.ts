/**
 * (a) Postgres stops for a while during steady ingest, then starts again. Ingest keeps answering
 * (the TenantLog's SQLite outbox is the write-ahead copy); afterwards every acknowledged event must
 * reach `events`, in sequence order, exactly once, and every delivery must still happen.
 *
 * The database really stops: a private PostgreSQL cluster (`pg_ctl stop -m immediate`), else an
 * embedded PGlite server that is shut down and reopened on its data directory, else (neither
 * available) the Worker's WebSocket proxy is paused, which cuts every connection the same way.
 */
import { join } from 'node:path';
import { migrate, startPglite } from '../lib/postgres.ts';
import { startPrivatePostgres } from '../lib/private-postgres.ts';
import { createSource, createWebhookSubscription } from '../lib/switchyard-api.ts';
import { launch, sleep, until, type FaultEnv, type ScenarioOutcome, FAULT_SHARDS } from './harness.ts';
import { createLedger, describeVerdict, loadStored, verifyStorage } from './ledger.ts';
import { runPublishers } from './publishers.ts';
import { deliveryStates, neverArrived } from './deliveries.ts';

interface Outage {
  kind: string;
  url: string;
  down(): Promise<void>;
  up(): Promise<void>;
  destroy(): Promise<void>;
}

const OUTAGE_MS = 8_000;

async function database(env: FaultEnv): Promise<Outage> {
  const cluster = await startPrivatePostgres();
  if (cluster)
    return {
      kind: `private PostgreSQL cluster on port ${cluster.port} (pg_ctl stop -m immediate / start)`,
      url: cluster.url,
      down: cluster.stop,
      up: cluster.start,
      destroy: cluster.destroy,
    };
  try {
    const dataDir = join(env.work, 'outage-pglite');
    let server = await startPglite({ dataDir });
    const port = Number(new URL(server.url).port);
    return {
      kind: `embedded PGlite on port ${port} (closed and reopened on its data directory)`,
      url: server.url,
      down: () => server.stop(),
      up: async () => {
        server = await startPglite({ dataDir, port });
      },
      destroy: () => server.stop().catch(() => {}),
    };
  } catch {
    return {
      kind: 'the machine Postgres behind a paused WebSocket proxy (no private server could be started)',
      url: env.database.url,
      down: async () => env.workerProxy.pause(),
      up: async () => env.workerProxy.resume(),
      destroy: async () => {},
    };
  }
}

export async function postgresOutage(env: FaultEnv): Promise<ScenarioOutcome> {
  const lines: string[] = [];
  const problems: string[] = [];
  const db = await database(env);
  await migrate(db.url);
  lines.push(`database: ${db.kind}`);
  const { runtime, api, logs } = await launch(env, { stateDir: join(env.work, 'state-outage'), databaseUrl: db.url });
  try {
    const source = await createSource(api, 'faults outage', { shards: FAULT_SHARDS });
    await createWebhookSubscription(api, source.tenantId, `${env.receiver.url}/outage`);
    const ledger = createLedger();
    let stop = false;
    const publishing = runPublishers({
      ledger,
      base: () => runtime.url,
      source,
      label: `outage-${Date.now().toString(36)}`,
      singles: 3,
      batches: { clients: 1, size: 10 },
      pauseMs: 30,
      done: () => stop,
    });

    await sleep(3_000);
    const downAt = Date.now();
    await db.down();
    env.log(`  (a) database down for ${OUTAGE_MS / 1000} s…`);
    await sleep(OUTAGE_MS);
    await db.up();
    const downMs = Date.now() - downAt;
    await sleep(3_000);
    stop = true;
    await publishing;

    const acked = [...ledger.values()].filter((e) => e.acks.length > 0).length;
    const caughtUp = await until(async () => (await loadStored(db.url, source.tenantId)).length >= acked, 75_000, 500);
    const rows = await loadStored(db.url, source.tenantId);
    const verdict = verifyStorage(ledger, rows, { ordered: true });
    const refused = [...ledger.values()].reduce<Record<string, number>>((acc, e) => {
      for (const [status, count] of Object.entries(e.refused)) acc[status] = (acc[status] ?? 0) + count;
      return acc;
    }, {});
    lines.push(`outage ${(downMs / 1000).toFixed(1)} s; ${describeVerdict(verdict)}; non-2xx answers ${JSON.stringify(refused)}`);
    if (!caughtUp) problems.push(`Postgres holds ${rows.length} events, fewer than the ${acked} acknowledged, 75 s after the outage`);
    problems.push(...verdict.problems);

    // deliveries: every stored event has one delivery, and it must end delivered (the receiver says 200)
    // a consumer batch whose claim failed during the outage is retried within seconds; one that claimed
    // and attempted keeps trying to record for ~15 s, and only past that waits out its lease
    const settled = await until(async () => (await deliveryStates(db.url, source.tenantId)).pending === 0, 90_000, 500);
    const states = await deliveryStates(db.url, source.tenantId);
    const arrived = new Set(env.receiver.received.filter((r) => r.path === '/outage').map((r) => (JSON.parse(r.body) as { id: string }).id));
    lines.push(`deliveries: ${JSON.stringify(states.byStatus)}; ${arrived.size} distinct events reached the receiver`);
    if (states.total !== rows.length) problems.push(`${rows.length} stored events but ${states.total} deliveries`);
    if (!settled) problems.push(`${states.pending} deliveries still pending 90 s after the outage (e.g. ${states.pendingExamples.join(', ')})`);
    problems.push(...neverArrived(rows, arrived));
    const flushWarnings = logs.filter((l) => l.includes('outbox flush failed')).length;
    lines.push(`the TenantLog logged ${flushWarnings} failed flushes while the database was down`);
    if (problems.length) lines.push(...logs.slice(-5).map((l) => `worker log: ${l.slice(0, 300)}`));
  } finally {
    await runtime.stop();
    await db.destroy();
  }
  return { pass: problems.length === 0, lines, problems };
}
