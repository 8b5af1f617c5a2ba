import { describe, expect, it } from 'vitest';
import { newId } from '../../src/lib/ids';
import { api, createSource, eventually, ingest, makeEvent, withTestDb, type TestSource } from '../fixtures/api';
import { behave, receiverPath, waitForRequests } from '../fixtures/receiver';

type Health = {
  subscription_id: string;
  status: string;
  window: string;
  attempts: number;
  delivered: number;
  failed: number;
  success_rate: number | null;
  latency_ms: { p50: number | null; p95: number | null };
  consecutive_failures: number;
  last_success_at: string | null;
  last_failure_at: string | null;
  bucket: string;
  series: { bucket: string; delivered: number; failed: number }[];
  truncated: boolean;
};

async function subscribe(source: TestSource, url = receiverPath().url): Promise<string> {
  const res = await api<{ id: string }>('POST', `/v1/tenants/${source.tenantId}/subscriptions`, {
    types: ['orders.*'],
    action: { type: 'webhook', config: { url } },
  });
  if (res.status !== 201) throw new Error(`subscribe: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.id;
}

/**
 * Attempts written as a listener's report would be (no subscription named: the database takes it from
 * the delivery): `minutesAgo`, latency and outcome each.
 */
async function recordAttempts(tenantId: string, subscriptionId: string, attempts: [minutesAgo: number, latencyMs: number, outcome: string][]): Promise<void> {
  const ids = attempts.map(() => newId('dlv'));
  await withTestDb(async (db) => {
    await db.query(
      `INSERT INTO deliveries (id, tenant_id, subscription_id, event_id, event_sequence) SELECT id, $2, $3, 'evt_x', 1 FROM unnest($1::text[]) AS id`,
      [ids, tenantId, subscriptionId],
    );
    await db.query(
      `INSERT INTO delivery_attempts (tenant_id, delivery_id, attempt, started_at, latency_ms, outcome)
       SELECT $1, a.id, 1, now() - make_interval(mins => a.ago), a.latency, a.outcome FROM unnest($2::text[], $3::int[], $4::int[], $5::text[]) AS a(id, ago, latency, outcome)`,
      [tenantId, ids, attempts.map((a) => a[0]), attempts.map((a) => a[1]), attempts.map((a) => a[2])],
    );
  });
}

const health = (source: TestSource, id: string, query = '') => api<Health>('GET', `/v1/tenants/${source.tenantId}/subscriptions/${id}/health${query}`);

describe('GET subscriptions/{id}/health', () => {
  it('reports success rate, latency percentiles and a per-minute series over the last hour', async () => {
    const source = await createSource();
    const id = await subscribe(source);
    // ten attempts in the last hour (latencies 10..100 ms; the 30 and 70 ms ones failed), one two hours
    // ago, one a transformer skipped; and an attempt of another subscription of the same tenant
    const recent = Array.from({ length: 10 }, (_, i): [number, number, string] => [i * 5 + 2, (i + 1) * 10, i === 2 || i === 6 ? 'retry' : 'delivered']);
    await recordAttempts(source.tenantId, id, [...recent, [120, 5000, 'retry'], [3, 1, 'skipped']]);
    await recordAttempts(source.tenantId, await subscribe(source), [[1, 9999, 'retry']]);

    const res = await health(source, id, '?window=1h');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      subscription_id: id,
      status: 'active',
      window: '1h',
      attempts: 10,
      delivered: 8,
      failed: 2,
      success_rate: 0.8,
      latency_ms: { p50: 55, p95: 95.5 },
      consecutive_failures: 0,
      bucket: 'minute',
      truncated: false,
    });
    // the newest success was 2 minutes ago, the newest failure (30 ms) 12 minutes ago
    const ago = (iso: string | null) => Math.round((Date.now() - Date.parse(iso ?? '')) / 60_000);
    expect(ago(res.body.last_success_at)).toBe(2);
    expect(ago(res.body.last_failure_at)).toBe(12);
    expect(res.body.series.length).toBeGreaterThanOrEqual(60);
    expect(res.body.series.length).toBeLessThanOrEqual(61);
    expect(res.body.series.reduce((n, b) => n + b.delivered, 0)).toBe(8);
    expect(res.body.series.reduce((n, b) => n + b.failed, 0)).toBe(2);
    expect(res.body.series.filter((b) => b.failed > 0)).toHaveLength(2);
    const minutes = res.body.series.map((b) => Date.parse(b.bucket));
    expect(minutes).toEqual([...minutes].sort((a, b) => a - b));
    expect(new Set(minutes.slice(1).map((m, i) => m - minutes[i]!))).toEqual(new Set([60_000]));

    // the day holds the attempt of two hours ago too, per hour
    const day = await health(source, id);
    expect(day.body).toMatchObject({ window: '24h', bucket: 'hour', attempts: 11, delivered: 8, failed: 3 });
    expect(day.body.series.length).toBeGreaterThanOrEqual(24);
    expect(day.body.series.length).toBeLessThanOrEqual(25);
    expect((await health(source, id, '?window=7d')).body).toMatchObject({ window: '7d', attempts: 11 });
  });

  it('shows what the consumer recorded for real deliveries, and the paused status', async () => {
    const source = await createSource();
    const { path, url } = receiverPath();
    await behave(path, { responses: [{ status: 200 }, { status: 500 }], default: { status: 200 } });
    const id = await subscribe(source, url);
    await api('PATCH', `/v1/tenants/${source.tenantId}/subscriptions/${id}`, { retry_schedule: [0] });
    await ingest(source, makeEvent());
    await waitForRequests(path, 1);
    await ingest(source, makeEvent());
    const res = await eventually(async () => {
      const h = await health(source, id);
      return h.body.attempts === 2 ? h : null;
    });
    expect(res.body).toMatchObject({ delivered: 1, failed: 1, success_rate: 0.5, consecutive_failures: 1 });
    expect(res.body.last_success_at).not.toBeNull();
    expect(Date.parse(res.body.last_failure_at!)).toBeGreaterThan(Date.parse(res.body.last_success_at!));
    expect(res.body.latency_ms.p50).toEqual(expect.any(Number));
    await api('PATCH', `/v1/tenants/${source.tenantId}/subscriptions/${id}`, { status: 'paused' });
    expect((await health(source, id)).body.status).toBe('paused');
  });

  it('answers an endpoint without attempts with nulls, not zeros', async () => {
    const source = await createSource();
    const id = await subscribe(source);
    const res = await health(source, id, '?window=7d');
    expect(res.body).toMatchObject({ attempts: 0, success_rate: null, latency_ms: { p50: null, p95: null }, last_success_at: null, last_failure_at: null });
    expect(res.body.series.every((b) => b.delivered === 0 && b.failed === 0)).toBe(true);
  });

  it('refuses an unknown window with 422, and keeps to the tenant and its scopes', async () => {
    const source = await createSource();
    const other = await createSource();
    const id = await subscribe(source);
    expect(await health(source, id, '?window=2d')).toMatchObject({ status: 422, body: { code: 'validation_failed', errors: [{ pointer: '/window' }] } });
    expect(await health(source, 'sub_01JD9Y3W8N5R2T6V4X7Z0A1B2C')).toMatchObject({ status: 404, body: { code: 'subscription_not_found' } });
    expect(await health(other, id)).toMatchObject({ status: 404, body: { code: 'subscription_not_found' } });
    const token = async (tenantId: string, scopes?: string[]) =>
      (await api<{ token: string }>('POST', `/v1/tenants/${tenantId}/tokens`, scopes ? { scopes } : {})).body.token;
    const path = `/v1/tenants/${source.tenantId}/subscriptions/${id}/health`;
    expect((await api('GET', path, undefined, await token(source.tenantId, ['subscriptions:read']))).status).toBe(200);
    expect(await api('GET', path, undefined, await token(source.tenantId, ['deliveries:read']))).toMatchObject({ status: 403 });
    expect(await api('GET', path, undefined, await token(other.tenantId))).toMatchObject({ status: 404, body: { code: 'tenant_not_found' } });
  });
});
