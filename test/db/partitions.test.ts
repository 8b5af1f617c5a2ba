import { describe, expect, it } from 'vitest';
import { configOf } from '../../src/config';
import type { Db } from '../../src/db/client';
import { maintainPartitions } from '../../src/db/partitions';
import { newId } from '../../src/lib/ids';
import { api, createTenant, testEnv, withTestDb } from '../fixtures/api';

const DAY = 86_400_000;
const noon = (ms: number) => Math.floor(ms / DAY) * DAY + DAY / 2;
const suffix = (ms: number) => new Date(ms).toISOString().slice(0, 10).replaceAll('-', '');
const maintain = () => withTestDb((db) => maintainPartitions(db, configOf(testEnv).retentionDefaults, true));

/** Stores an event at `at` (Unix ms) as the flush would, and optionally a delivery of it with one attempt. */
async function storeEvent(db: Db, tenantId: string, sequence: number, at: number, delivery?: { status: string }): Promise<string> {
  const id = newId('evt', at);
  await db.query(
    `INSERT INTO events (tenant_id, sequence, id, source_id, ce_id, ce_source, type, event, sha256, received_at)
     VALUES ($1, $2, $3, 'src_x', $3, 'test', 'orders.created', '{"type":"orders.created"}', 'x', to_timestamp($4 / 1000.0))`,
    [tenantId, sequence, id, at],
  );
  if (delivery) {
    const deliveryId = newId('dlv', at);
    await db.query(
      `INSERT INTO deliveries (id, tenant_id, subscription_id, event_id, event_sequence, status, created_at, event_received_at)
       VALUES ($1, $2, 'sub_x', $3, $4, $5, to_timestamp($6 / 1000.0), to_timestamp($6 / 1000.0))`,
      [deliveryId, tenantId, id, sequence, delivery.status, at],
    );
    await db.query(
      `INSERT INTO delivery_attempts (tenant_id, delivery_id, subscription_id, attempt, started_at, latency_ms, outcome, event_received_at)
       VALUES ($1, $2, 'sub_x', 1, to_timestamp($3 / 1000.0), 5, 'failed', to_timestamp($3 / 1000.0))`,
      [tenantId, deliveryId, at],
    );
  }
  return id;
}

const partitionOf = (table: string, tenantId: string) =>
  withTestDb(async (db) =>
    (await db.query<{ p: string }>(`SELECT tableoid::regclass::text AS p FROM ${table} WHERE tenant_id = $1`, [tenantId])).rows.map((r) => r.p),
  );

const existing = (names: string[]) =>
  withTestDb(async (db) =>
    (await db.query<{ name: string }>('SELECT relname::text AS name FROM pg_class WHERE relname = ANY($1)', [names])).rows.map((r) => r.name).sort(),
  );

const archivedUntil = (tenantId: string, at: number | null) =>
  withTestDb((db) =>
    db.query(
      `INSERT INTO tenant_retention (tenant_id, archived_until, checked_at) VALUES ($1, to_timestamp($2 / 1000.0), now())
       ON CONFLICT (tenant_id) DO UPDATE SET archived_until = EXCLUDED.archived_until`,
      [tenantId, at],
    ),
  );

describe('time partitions', () => {
  it('creates partitions a week ahead and moves what the DEFAULT partition caught into a partition of its own', async () => {
    const tenantId = await createTenant();
    const later = noon(Date.now() + 40 * DAY);
    const id = await withTestDb((db) => storeEvent(db, tenantId, 1, later, { status: 'delivered' }));
    // no partition for that day yet: the insert did not fail, the DEFAULT partition holds it
    expect(await partitionOf('events', tenantId)).toEqual(['events_default']);
    expect(await partitionOf('deliveries', tenantId)).toEqual(['deliveries_default']);

    await maintain();
    const week = Array.from({ length: 8 }, (_, i) => suffix(Date.now() + i * DAY));
    const names = week.flatMap((d) => [`events_p${d}`, `deliveries_p${d}`, `delivery_attempts_p${d}`]);
    const month = new Date().toISOString().slice(0, 7).replace('-', '');
    expect(await existing([...names, `audit_log_p${month}`])).toEqual([...names, `audit_log_p${month}`].sort());
    expect(await partitionOf('events', tenantId)).toEqual([`events_p${suffix(later)}`]);
    expect(await partitionOf('deliveries', tenantId)).toEqual([`deliveries_p${suffix(later)}`]);
    expect(await partitionOf('delivery_attempts', tenantId)).toEqual([`delivery_attempts_p${suffix(later)}`]);
    // and the API still finds it
    expect((await api('GET', `/v1/tenants/${tenantId}/events/${id}`)).status).toBe(200);
  });

  it('drops an expired day only once no tenant needs it, and leaves every other row alone', async () => {
    const [a, b] = await Promise.all([createTenant(), createTenant()]);
    // older than any retention can be (3650 days at most)
    const old = noon(Date.now() - 3700 * DAY);
    const day = suffix(old);
    await withTestDb(async (db) => {
      await storeEvent(db, a, 1, old, { status: 'pending' });
      await storeEvent(db, b, 1, old);
      await storeEvent(db, a, 2, Date.now(), { status: 'delivered' });
      await storeEvent(db, b, 2, Date.now());
    });
    const leaves = [`delivery_attempts_p${day}`, `deliveries_p${day}`, `events_p${day}`];

    // a has archived the day, b has not; and a's delivery of it is still pending
    await archivedUntil(a, old + DAY);
    let outcome = await maintain();
    expect(outcome.kept).toEqual(expect.arrayContaining([`events_p${day}`, `deliveries_p${day}`]));
    expect(await existing(leaves)).toEqual([...leaves].sort());

    // b's archive passes the day: the pending delivery alone keeps the day's events and deliveries
    await archivedUntil(b, old + DAY);
    outcome = await maintain();
    expect(outcome.kept).toEqual(expect.arrayContaining([`events_p${day}`, `deliveries_p${day}`]));

    await withTestDb((db) => db.query(`UPDATE deliveries SET status = 'failed' WHERE tenant_id = $1 AND status = 'pending'`, [a]));
    // another test file's cron may run the same maintenance at the same moment and drop them first
    await maintain();
    expect(await existing(leaves)).toEqual([]);
    // today's rows of both tenants are untouched
    for (const t of [a, b]) expect(await partitionOf('events', t)).toEqual([`events_p${suffix(Date.now())}`]);
    expect(await partitionOf('deliveries', a)).toEqual([`deliveries_p${suffix(Date.now())}`]);
    expect(await partitionOf('delivery_attempts', a)).toEqual([`delivery_attempts_p${suffix(Date.now())}`]);
  });
});
