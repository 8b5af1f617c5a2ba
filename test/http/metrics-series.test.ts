import { describe, expect, it } from 'vitest';
import { newId } from '../../src/lib/ids';
import { api, createTenant, withTestDb } from '../fixtures/api';

type Point = {
  at: string;
  events_accepted: number;
  rejected: Record<string, number>;
  deliveries_delivered: number;
  deliveries_failed: number;
  attempts: number;
  success_ratio: number | null;
  latency_ms: { p50: number | null; p95: number | null };
};
type Series = { window: string; bucket_seconds: number; from: string; to: string; series: Point[]; truncated: boolean };

const EMPTY = {
  events_accepted: 0,
  rejected: {},
  deliveries_delivered: 0,
  deliveries_failed: 0,
  attempts: 0,
  success_ratio: null,
  latency_ms: { p50: null, p95: null },
};

/**
 * Writes a tenant's history straight into Postgres, each row `minutesAgo` before the start of the
 * current minute (plus 10 s), and returns that minute (Unix ms) so buckets are found by their start.
 */
async function seed(
  tenantId: string,
  h: {
    events: number[];
    rejections: [minutesAgo: number, code: string, count: number][];
    deliveries: [minutesAgo: number, status: string][];
    attempts: [minutesAgo: number, latencyMs: number, outcome: string][];
  },
): Promise<number> {
  return withTestDb(async (db) => {
    const anchor = (await db.query<{ ms: string }>(`SELECT (extract(epoch FROM date_trunc('minute', now())) * 1000)::bigint AS ms`)).rows[0]!.ms;
    const at = `to_timestamp($2::bigint / 1000.0) - make_interval(mins => x.ago) + interval '10 seconds'`;
    await db.query(
      `INSERT INTO events (tenant_id, sequence, id, source_id, ce_id, ce_source, type, event, sha256, received_at)
       SELECT $1, x.n, 'evt_' || md5($1 || x.n), 'src_x', 'ce' || x.n, '/test', 'orders.created', '{}', 'x', ${at}
         FROM unnest($3::int[]) WITH ORDINALITY AS x(ago, n)`,
      [tenantId, anchor, h.events],
    );
    await db.query(
      `INSERT INTO ingest_rejections (tenant_id, minute, code, count)
       SELECT $1, date_trunc('minute', ${at}), x.code, x.count FROM unnest($3::int[], $4::text[], $5::int[]) AS x(ago, code, count)`,
      [tenantId, anchor, h.rejections.map((r) => r[0]), h.rejections.map((r) => r[1]), h.rejections.map((r) => r[2])],
    );
    await db.query(
      `INSERT INTO deliveries (id, tenant_id, subscription_id, event_id, event_sequence, status, created_at)
       SELECT x.id, $1, 'sub_x', 'evt_x', 1, x.status, ${at} FROM unnest($3::int[], $4::text[], $5::text[]) AS x(ago, status, id)`,
      [tenantId, anchor, h.deliveries.map((d) => d[0]), h.deliveries.map((d) => d[1]), h.deliveries.map(() => newId('dlv'))],
    );
    const ids = h.attempts.map(() => newId('dlv'));
    await db.query(
      `INSERT INTO deliveries (id, tenant_id, subscription_id, event_id, event_sequence, status) SELECT id, $2, 'sub_x', 'evt_x', 1, 'pending' FROM unnest($1::text[]) AS id`,
      [ids, tenantId],
    );
    await db.query(
      `INSERT INTO delivery_attempts (tenant_id, delivery_id, attempt, started_at, latency_ms, outcome)
       SELECT $1, x.id, 1, ${at}, x.latency, x.outcome FROM unnest($3::int[], $4::text[], $5::int[], $6::text[]) AS x(ago, id, latency, outcome)`,
      [tenantId, anchor, h.attempts.map((a) => a[0]), ids, h.attempts.map((a) => a[1]), h.attempts.map((a) => a[2])],
    );
    return Number(anchor);
  });
}

const series = (tenantId: string, query = '', token?: string) => api<Series>('GET', `/v1/tenants/${tenantId}/metrics/series${query}`, undefined, token);
const bucketOf = (s: Series, ms: number) => s.series.find((p) => Date.parse(p.at) === ms - (ms % (s.bucket_seconds * 1000)));

describe('GET /v1/tenants/{t}/metrics/series', () => {
  it('counts events, rejections by code, deliveries and attempts per minute, with latency percentiles and empty buckets', async () => {
    const tenantId = await createTenant('series');
    // 5 minutes ago: 3 events, 5 rate_limited + 2 invalid_signature, 2 delivered + 1 failed deliveries
    // (and one still pending), ten attempts of 10..100 ms with the 30 and 70 ms ones failing, one skipped;
    // 20 minutes ago one event and one rejection; 2 hours ago one event and one attempt (outside 1h)
    const anchor = await seed(tenantId, {
      events: [5, 5, 5, 20, 120],
      rejections: [
        [5, 'rate_limited', 5],
        [5, 'invalid_signature', 2],
        [20, 'rate_limited', 1],
      ],
      deliveries: [
        [5, 'delivered'],
        [5, 'delivered'],
        [5, 'failed'],
        [5, 'pending'],
      ],
      attempts: [
        ...Array.from({ length: 10 }, (_, i): [number, number, string] => [5, (i + 1) * 10, i === 2 || i === 6 ? 'retry' : 'delivered']),
        [5, 1, 'skipped'],
        [120, 7, 'delivered'],
      ],
    });
    // another tenant's history at the same minute shows nowhere
    await seed(await createTenant('other'), {
      events: [5],
      rejections: [[5, 'rate_limited', 9]],
      deliveries: [[5, 'delivered']],
      attempts: [[5, 9999, 'retry']],
    });

    const res = await series(tenantId, '?window=1h');
    expect(res.status).toBe(200);
    const s = res.body;
    expect(s).toMatchObject({ window: '1h', bucket_seconds: 60, truncated: false });
    // one bucket per minute from the minute an hour ago to the current one, oldest first
    expect(s.series.length).toBe(61);
    expect(s.from).toBe(new Date(Date.parse(s.series[0]!.at)).toISOString());
    expect(s.series.every((p, i) => i === 0 || Date.parse(p.at) - Date.parse(s.series[i - 1]!.at) === 60_000)).toBe(true);

    expect(bucketOf(s, anchor - 5 * 60_000)).toEqual({
      at: new Date(anchor - 5 * 60_000).toISOString().replace('.000', ''),
      events_accepted: 3,
      rejected: { rate_limited: 5, invalid_signature: 2 },
      deliveries_delivered: 2,
      deliveries_failed: 1,
      attempts: 10,
      success_ratio: 0.8,
      latency_ms: { p50: 55, p95: 95.5 },
    });
    expect(bucketOf(s, anchor - 20 * 60_000)).toMatchObject({ events_accepted: 1, rejected: { rate_limited: 1 }, attempts: 0, success_ratio: null });
    const others = s.series.filter((p) => ![anchor - 5 * 60_000, anchor - 20 * 60_000].includes(Date.parse(p.at)));
    expect(others.length).toBe(59);
    for (const p of others) expect({ ...p, at: undefined }).toEqual({ ...EMPTY, at: undefined });
  });

  it('buckets per hour over 24h and 7d, the default being 24h', async () => {
    const tenantId = await createTenant('series hourly');
    const anchor = await seed(tenantId, {
      events: [5, 5, 120, 3000],
      rejections: [[120, 'malformed_json', 3]],
      deliveries: [],
      attempts: [
        [120, 10, 'delivered'],
        [120, 30, 'retry'],
      ],
    });
    const day = await series(tenantId);
    expect(day.status).toBe(200);
    expect(day.body).toMatchObject({ window: '24h', bucket_seconds: 3600 });
    expect(day.body.series.length).toBe(25);
    expect(bucketOf(day.body, anchor - 5 * 60_000 + 10_000)?.events_accepted).toBe(2);
    expect(bucketOf(day.body, anchor - 120 * 60_000 + 10_000)).toMatchObject({
      events_accepted: 1,
      rejected: { malformed_json: 3 },
      attempts: 2,
      success_ratio: 0.5,
      latency_ms: { p50: 20, p95: 29 },
    });
    expect(day.body.series.reduce((n, p) => n + p.events_accepted, 0)).toBe(3);

    const week = await series(tenantId, '?window=7d');
    expect(week.body).toMatchObject({ window: '7d', bucket_seconds: 3600 });
    expect(week.body.series.length).toBe(169);
    expect(week.body.series.reduce((n, p) => n + p.events_accepted, 0)).toBe(4);
  });

  it('refuses an unknown window with 422 and needs metrics:read of this tenant', async () => {
    const tenantId = await createTenant('series auth');
    for (const w of ['2h', '30d', '', '1h;drop']) {
      const res = await series(tenantId, `?window=${encodeURIComponent(w)}`);
      expect(res.status, w).toBe(422);
      expect((res.body as unknown as { code: string }).code, w).toBe('validation_failed');
    }
    const mint = async (t: string, scopes: string[]) => (await api<{ token: string }>('POST', `/v1/tenants/${t}/tokens`, { scopes })).body.token;
    expect((await series(tenantId, '?window=1h', await mint(tenantId, ['metrics:read']))).status).toBe(200);
    expect((await series(tenantId, '?window=1h', await mint(tenantId, ['events:read', 'subscriptions:write']))).status).toBe(403);
    const other = await createTenant('series other');
    expect((await series(tenantId, '?window=1h', await mint(other, ['metrics:read']))).status).toBe(404);
    expect((await series(tenantId, '?window=1h', 'not-a-token')).status).toBe(401);
  });
});
