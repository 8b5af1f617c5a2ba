import { describe, expect, it } from 'vitest';
import { enforceTenantRetention } from '../../src/archive/retention-job';
import { sha256Hex } from '../../src/lib/encoding';
import { adminToken, api, call, createSource, eventually, ingest, makeEvent, testEnv, withTestDb } from '../fixtures/api';
import { receiverPath, waitForRequests } from '../fixtures/receiver';

const DAY = 86_400_000;
/** Noon UTC `days` days ago: far from a day boundary, so the test's events stay on their day. */
const noonDaysAgo = (days: number) => Math.floor((Date.now() - days * DAY) / DAY) * DAY + DAY / 2;
const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);

type Stored = { id: string; sequence: number };

/** The retention job for one tenant, called directly rather than waiting for the Cron Trigger. */
const retain = (tenantId: string) => withTestDb((db) => enforceTenantRetention(db, testEnv, tenantId));

/** A tenant with a webhook subscription and `count` events delivered, all of them in Postgres. */
async function tenantWithEvents(count: number, options: { ordered?: boolean; extra?: (i: number) => Record<string, unknown> } = {}) {
  const source = await createSource();
  const { path, url } = receiverPath();
  const sub = await api<{ id: string }>('POST', `/v1/tenants/${source.tenantId}/subscriptions`, {
    types: ['orders.*'],
    action: { type: 'webhook', config: { url } },
    ...(options.ordered ? { ordering: 'partition' } : {}),
  });
  const events = Array.from({ length: count }, (_, i) => makeEvent({ partitionkey: 'k', data: { n: i }, ...options.extra?.(i) }));
  expect((await ingest(source, events, 'application/cloudevents-batch+json')).status).toBe(202);
  const deliveries = await waitForRequests(path, count);
  // every delivery recorded as delivered, so none is pending when retention runs
  await eventually(() =>
    withTestDb(async (db) => {
      const r = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM deliveries WHERE tenant_id = $1 AND status = 'delivered'`, [source.tenantId]);
      return r.rows[0]!.n === count;
    }),
  );
  const stored = (await api<{ data: Stored[] }>('GET', `/v1/tenants/${source.tenantId}/events?limit=100`)).body.data;
  return { source, path, subscriptionId: sub.body.id, events, stored, deliveries };
}

/** Moves events (by sequence) to noon of `days` days ago, a second apart in sequence order. */
async function backdate(tenantId: string, sequences: number[], days: number): Promise<void> {
  await withTestDb(async (db) => {
    // visited just now: the Cron runs other test files fire leave the tenant to this test's own calls
    await db.query(`INSERT INTO tenant_retention (tenant_id, checked_at) VALUES ($1, now()) ON CONFLICT (tenant_id) DO UPDATE SET checked_at = now()`, [
      tenantId,
    ]);
    await db.query(
      `UPDATE events SET received_at = to_timestamp($3 / 1000.0) + (sequence - $4) * interval '1 second' WHERE tenant_id = $1 AND sequence = ANY($2::int8[])`,
      [tenantId, sequences, noonDaysAgo(days), Math.min(...sequences)],
    );
  });
}

async function count(sql: string, params: unknown[]): Promise<number> {
  return withTestDb(async (db) => (await db.query<{ n: number }>(sql, params)).rows[0]!.n);
}

async function gunzipText(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  return new Response(new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'))).text();
}

describe('retention and archive', () => {
  it('archives expired days to R2 with a manifest before deleting them, by each tenant’s own retention, and keeps dedup', async () => {
    const [a, b] = await Promise.all([tenantWithEvents(6), tenantWithEvents(6)]);
    expect((await api('PUT', `/v1/tenants/${a.source.tenantId}/retention`, { deliveries_days: 7, audit_days: 1 })).status).toBe(200);
    expect((await api('PUT', `/v1/tenants/${b.source.tenantId}/retention`, { events_days: 60 })).status).toBe(200);
    for (const t of [a, b]) {
      await backdate(t.source.tenantId, [1, 2, 3], 40);
      await backdate(t.source.tenantId, [4, 5], 39);
      await backdate(t.source.tenantId, [6], 10);
      await withTestDb(async (db) => {
        await db.query(`UPDATE deliveries SET created_at = now() - interval '10 days' WHERE tenant_id = $1`, [t.source.tenantId]);
        await db.query(`UPDATE audit_log SET at = now() - interval '2 days' WHERE tenant_id = $1`, [t.source.tenantId]);
      });
    }
    // the API's rendering of the events about to go, after the backdating
    const rendered = await Promise.all(
      a.stored.map(async (e) =>
        (await call(`/v1/tenants/${a.source.tenantId}/events/${e.id}`, { headers: { authorization: `Bearer ${await adminToken()}` } })).text(),
      ),
    );

    const outcome = await retain(a.source.tenantId);
    expect(outcome).toMatchObject({ archived: { parts: 2, events: 5 }, deleted: { events: 5, deliveries: 6, audit: expect.any(Number) }, finished: true });
    expect(outcome.deleted.audit).toBeGreaterThan(0);

    // R2: one part and a manifest per day; the part is what the manifest says, and its lines are the API's JSON
    const day1 = dayOf(noonDaysAgo(40));
    const listed = await testEnv.ARCHIVE.list({ prefix: `tenants/${a.source.tenantId}/` });
    expect(listed.objects.map((o) => o.key).sort()).toEqual(
      [`${day1}/0000.ndjson.gz`, `${day1}/manifest.json`, `${dayOf(noonDaysAgo(39))}/0000.ndjson.gz`, `${dayOf(noonDaysAgo(39))}/manifest.json`]
        .map((k) => `tenants/${a.source.tenantId}/events/${k}`)
        .sort(),
    );
    const manifest = await (await testEnv.ARCHIVE.get(`tenants/${a.source.tenantId}/events/${day1}/manifest.json`))!.json<{
      count: number;
      sequence: { from: number; to: number };
      parts: { key: string; sha256: string; bytes: number; count: number }[];
    }>();
    expect(manifest).toMatchObject({ format: 'switchyard.archive.v1', day: day1, count: 3, sequence: { from: 1, to: 3 } });
    const bytes = new Uint8Array(await (await testEnv.ARCHIVE.get(manifest.parts[0]!.key))!.arrayBuffer());
    expect(await sha256Hex(bytes)).toBe(manifest.parts[0]!.sha256);
    expect(bytes.byteLength).toBe(manifest.parts[0]!.bytes);
    const bySequence = new Map(a.stored.map((e, i) => [e.sequence, rendered[i]]));
    expect((await gunzipText(bytes)).split('\n')).toEqual([bySequence.get(1), bySequence.get(2), bySequence.get(3), '']);
    // the API shows the same manifest
    expect((await api('GET', `/v1/tenants/${a.source.tenantId}/archives/${day1}`)).body).toEqual(manifest);
    const download = await call(`/v1/tenants/${a.source.tenantId}/archives/${day1}/parts/0`, { headers: { authorization: `Bearer ${await adminToken()}` } });
    expect(download.headers.get('content-type')).toBe('application/gzip');
    expect(new Uint8Array(await download.arrayBuffer())).toEqual(bytes);

    // Postgres: only the young event is left for A; its deliveries (7 days) and audit entries (1 day) are gone
    expect(await count('SELECT count(*)::int AS n FROM events WHERE tenant_id = $1', [a.source.tenantId])).toBe(1);
    expect(await count('SELECT count(*)::int AS n FROM deliveries WHERE tenant_id = $1', [a.source.tenantId])).toBe(0);
    expect(await count('SELECT count(*)::int AS n FROM delivery_attempts WHERE tenant_id = $1', [a.source.tenantId])).toBe(0);
    expect(await count(`SELECT count(*)::int AS n FROM audit_log WHERE tenant_id = $1 AND at < now() - interval '1 day'`, [a.source.tenantId])).toBe(0);
    // B (60 days, defaults otherwise) untouched, before and after its own run
    const untouched = async () => {
      expect(await count('SELECT count(*)::int AS n FROM events WHERE tenant_id = $1', [b.source.tenantId])).toBe(6);
      expect(await count('SELECT count(*)::int AS n FROM deliveries WHERE tenant_id = $1', [b.source.tenantId])).toBe(6);
      expect(await count('SELECT count(*)::int AS n FROM audit_log WHERE tenant_id = $1', [b.source.tenantId])).toBeGreaterThan(0);
      expect((await testEnv.ARCHIVE.list({ prefix: `tenants/${b.source.tenantId}/` })).objects).toEqual([]);
    };
    await untouched();
    expect(await retain(b.source.tenantId)).toMatchObject({ archived: { parts: 0 }, deleted: { events: 0 } });
    await untouched();
    // a second run finds nothing to do
    expect(await retain(a.source.tenantId)).toMatchObject({
      archived: { parts: 0 },
      deleted: { events: 0, deliveries: 0, audit: 0 },
    });

    // dedup lives in the TenantLog: an id whose row is gone is still a duplicate within the window
    const again = await ingest(a.source, a.events[0]);
    expect(await again.json()).toMatchObject({ id: a.stored.find((e) => e.sequence === 1)!.id, sequence: 1, duplicate: true });
  });

  it('replays archived events from R2 to the subscription when the range is older than Postgres still has', async () => {
    // a producer `sha256` extension, which the API's rendering covers, must come back from the archive intact
    // and a priority and a schema version, which live in columns of their own, must come back too
    const t = await tenantWithEvents(4, { ordered: true, extra: (i) => (i === 1 ? { sha256: 'the-producers-own' } : i === 2 ? { priority: 'high' } : {}) });
    const tenantId = t.source.tenantId;
    await backdate(tenantId, [1, 2, 3], 40);
    // as if validated against version 2 of the type's schema (schema-evolution.test.ts covers how it is set)
    await withTestDb((db) => db.query('UPDATE events SET schema_version = 2 WHERE tenant_id = $1 AND sequence = 2', [tenantId]));
    const columns = () =>
      withTestDb(
        async (db) =>
          (
            await db.query<{ sequence: string; priority: string; schema_version: number | null }>(
              'SELECT sequence, priority, schema_version FROM events WHERE tenant_id = $1 AND sequence <= 3 ORDER BY sequence',
              [tenantId],
            )
          ).rows,
      );
    const before = await columns();
    expect(before.map((r) => [r.priority, r.schema_version])).toEqual([
      ['normal', null],
      ['normal', 2],
      ['high', null],
    ]);
    const outcome = await retain(tenantId);
    expect(outcome).toMatchObject({ archived: { events: 3 }, deleted: { events: 3 } });

    const replay = await api<{ id: string }>('POST', `/v1/tenants/${tenantId}/replays`, {
      subscription_id: t.subscriptionId,
      from: new Date(noonDaysAgo(41)).toISOString(),
      to: new Date(noonDaysAgo(20)).toISOString(),
    });
    expect(replay.status).toBe(202);
    const done = await eventually(async () => {
      const r = await api<{ status: string }>('GET', `/v1/tenants/${tenantId}/replays/${replay.body.id}`);
      return r.body.status !== 'running' ? r.body : null;
    });
    expect(done).toMatchObject({ status: 'completed', restored_events: 3, events_matched: 3, deliveries: 3 });
    expect(await columns()).toEqual(before);
    // delivered again through the ordered line, in sequence, with the bodies first sent
    const all = await waitForRequests(t.path, 7);
    const firstBodies = t.deliveries.slice(0, 3).map((r) => JSON.parse(r.body));
    const replayed = all.slice(4).map((r) => JSON.parse(r.body));
    expect(replayed.map((e) => e.data.n)).toEqual([0, 1, 2]);
    expect(replayed).toEqual(firstBodies.sort((x, y) => x.data.n - y.data.n));
    expect(replayed[1].sha256).toBe('the-producers-own');
    const ids = await withTestDb(
      async (db) => (await db.query<{ id: string }>('SELECT id FROM deliveries WHERE replay_id = $1 ORDER BY event_sequence', [replay.body.id])).rows,
    );
    expect(ids.map((r) => r.id)).toHaveLength(3);
  });
});
