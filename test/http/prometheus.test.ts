import { runInDurableObject } from 'cloudflare:test';
import parsePrometheusTextFormat, { type ParsedFamily } from 'parse-prometheus-text-format';
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { metricTotals, OTHER_SUBSCRIPTION } from '../../src/db/metric-totals';
import { utf8 } from '../../src/lib/encoding';
import { adminToken, api, call, createSource, createTenant, eventually, ingest, makeEvent, testEnv, withTestDb } from '../fixtures/api';
import { receiverPath, waitForRequests } from '../fixtures/receiver';

async function scrape(accept?: string): Promise<Response> {
  return call('/metrics', { headers: { authorization: `Bearer ${await adminToken()}`, ...(accept ? { accept } : {}) } });
}

const storedCount = (tenantId: string) =>
  withTestDb(async (db) => (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM events WHERE tenant_id = $1', [tenantId])).rows[0]!.n);

const family = (families: ParsedFamily[], name: string) => families.find((f) => f.name === name);
const sampleValue = (families: ParsedFamily[], name: string, labels: Record<string, string>) =>
  family(families, name)?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))?.value;

/** The parser flattens a histogram's label sets into one; this keeps the family header and one tenant's lines. */
function tenantHistogram(text: string, name: string, tenantId: string): ParsedFamily | undefined {
  const lines = text
    .split('\n')
    .filter((line) => line.startsWith(`# HELP ${name} `) || line.startsWith(`# TYPE ${name} `) || line.includes(`tenant="${tenantId}",le=`));
  return parsePrometheusTextFormat(`${lines.join('\n')}\n`)[0];
}

describe('GET /metrics', () => {
  it('answers Prometheus text a real parser reads, with a tenant’s ingest, deliveries, latency and backlog', async () => {
    const source = await createSource();
    const { path, url } = receiverPath();
    const sub = await api<{ id: string }>('POST', `/v1/tenants/${source.tenantId}/subscriptions`, {
      types: ['**'],
      action: { type: 'webhook', config: { url } },
    });
    expect(sub.status).toBe(201);
    for (let i = 0; i < 3; i++) expect((await ingest(source, makeEvent())).status).toBe(202);
    expect((await ingest(source, makeEvent({ type: 'orders.paid' }))).status).toBe(202);
    expect((await ingest({ ...source, secret: `whsec_${btoa('not-the-secret-of-this-source')}` }, makeEvent())).status).toBe(401);
    await waitForRequests(path, 4);

    const { res, text, families } = await eventually(async () => {
      const res = await scrape();
      const text = await res.text();
      const families = parsePrometheusTextFormat(text);
      const t = { tenant: source.tenantId };
      const done =
        sampleValue(families, 'switchyard_ingest_events_total', t) === '4' &&
        sampleValue(families, 'switchyard_deliveries_total', { ...t, subscription: sub.body.id, status: 'delivered' }) === '4' &&
        sampleValue(families, 'switchyard_ingest_rejected_total', { ...t, code: 'invalid_signature' }) === '1' &&
        sampleValue(families, 'switchyard_deliveries_pending', t) === '0' &&
        sampleValue(families, 'switchyard_outbox_depth', t) === '0' &&
        sampleValue(families, 'switchyard_outbox_lag_seconds', t) === '0' &&
        sampleValue(families, 'switchyard_dispatch_depth', t) === '0';
      return done ? { res, text, families } : null;
    }, 30_000);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(family(families, 'switchyard_ingest_events_total')?.type).toBe('COUNTER');
    expect(family(families, 'switchyard_outbox_depth')?.type).toBe('GAUGE');
    expect(family(families, 'switchyard_outbox_lag_seconds')?.type).toBe('GAUGE');
    const t = { tenant: source.tenantId };
    for (const gauge of ['switchyard_subscriptions_disabled', 'switchyard_subscriptions_paused', 'switchyard_subscriptions_breaker_open'])
      expect(sampleValue(families, gauge, t), gauge).toBe('0');

    const histogram = tenantHistogram(text, 'switchyard_delivery_attempt_duration_seconds', source.tenantId);
    expect(histogram?.type).toBe('HISTOGRAM');
    const buckets = histogram?.metrics[0]?.buckets ?? {};
    expect(buckets['+Inf']).toBe('4');
    // cumulative: never fewer in a wider bucket (object keys that look like integers come first: sort by bound)
    const counts = Object.entries(buckets)
      .sort(([a], [b]) => Number(a === '+Inf' ? Infinity : a) - Number(b === '+Inf' ? Infinity : b))
      .map(([, n]) => Number(n));
    expect(counts).toHaveLength(14);
    expect(counts).toEqual([...counts].sort((a, b) => a - b));
    expect(text).toContain(`switchyard_delivery_attempt_duration_seconds_count{tenant="${source.tenantId}"} 4\n`);
  });

  it('counts paused and disabled subscriptions, and every accepted event, system events included', async () => {
    const source = await createSource();
    const { url } = receiverPath();
    for (const status of ['paused', 'disabled']) {
      const created = await api('POST', `/v1/tenants/${source.tenantId}/subscriptions`, {
        types: ['never.sent'],
        status,
        action: { type: 'webhook', config: { url } },
      });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
    }
    expect((await ingest(source, makeEvent())).status).toBe(202);
    const t = { tenant: source.tenantId };
    await eventually(async () => {
      const stored = await api<{ data: unknown[] }>('GET', `/v1/tenants/${source.tenantId}/events?limit=100`);
      const families = parsePrometheusTextFormat(await (await scrape()).text());
      return (
        sampleValue(families, 'switchyard_subscriptions_paused', t) === '1' &&
        sampleValue(families, 'switchyard_subscriptions_disabled', t) === '1' &&
        sampleValue(families, 'switchyard_outbox_depth', t) === '0' &&
        sampleValue(families, 'switchyard_ingest_events_total', t) === String(stored.body.data.length)
      );
    });
  });

  it('keeps a tenant whose log stored nothing lately, so a stalled flush shows as outbox lag, and loses none of its events', async () => {
    const source = await createSource();
    const stub = testEnv.TENANT_LOG.getByName(source.tenantId);
    // a wedged log: it believes a flush is scheduled, as if its alarm were lost, so nothing reaches Postgres
    const wedge = (scheduled: boolean) =>
      runInDurableObject(stub, (log) => {
        (log as unknown as { flushScheduled: boolean }).flushScheduled = scheduled;
      });
    await wedge(true);
    for (let i = 0; i < 3; i++) expect((await ingest(source, makeEvent())).status).toBe(202);
    const t = { tenant: source.tenantId };
    const families = await eventually(async () => {
      const parsed = parsePrometheusTextFormat(await (await scrape()).text());
      return sampleValue(parsed, 'switchyard_outbox_depth', t) === '3' ? parsed : null;
    });
    expect(sampleValue(families, 'switchyard_ingest_events_total', t)).toBe('3');
    expect(Number(sampleValue(families, 'switchyard_outbox_lag_seconds', t))).toBeGreaterThan(0);
    expect(await storedCount(source.tenantId)).toBe(0);

    // once the log flushes again, everything it acknowledged is stored and the lag is back to 0
    await wedge(false);
    expect((await ingest(source, makeEvent())).status).toBe(202);
    await eventually(async () => (await storedCount(source.tenantId)) === 4);
    // the log drops what it flushed just after Postgres committed it
    await eventually(async () => {
      const after = parsePrometheusTextFormat(await (await scrape()).text());
      return sampleValue(after, 'switchyard_outbox_depth', t) === '0' && sampleValue(after, 'switchyard_outbox_lag_seconds', t) === '0';
    });
  });

  it('answers OpenMetrics when the scrape asks for it', async () => {
    const source = await createSource();
    expect((await ingest(source, makeEvent())).status).toBe(202);
    const text = await eventually(async () => {
      const res = await scrape('application/openmetrics-text; version=1.0.0,text/plain;version=0.0.4;q=0.5');
      expect(res.headers.get('content-type')).toBe('application/openmetrics-text; version=1.0.0; charset=utf-8');
      const body = await res.text();
      return body.includes(`switchyard_ingest_events_total{tenant="${source.tenantId}"} 1\n`) ? body : null;
    });
    expect(text).toContain('# TYPE switchyard_ingest_events counter\n');
    expect(text.endsWith('# EOF\n')).toBe(true);
    expect(sampleValue(parsePrometheusTextFormat(text), 'switchyard_ingest_events_total', { tenant: source.tenantId })).toBe('1');
  });

  it('refuses a scrape without a token or with a tenant token, and is documented', async () => {
    expect((await call('/metrics')).status).toBe(401);
    const source = await createSource();
    const tenantToken = await new SignJWT({ scope: 'tenant', tenant: source.tenantId })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime('5m')
      .sign(utf8(testEnv.ADMIN_JWT_SECRET));
    const refused = await call('/metrics', { headers: { authorization: `Bearer ${tenantToken}` } });
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({ code: 'forbidden' });
    const spec = await (await call('/openapi.json')).json<{ paths: Record<string, { get?: { responses: Record<string, unknown> } }> }>();
    expect(Object.keys(spec.paths['/metrics']?.get?.responses ?? {})).toEqual(expect.arrayContaining(['200', '401', '403', '422']));
  });

  it('splits the tenants into disjoint parts, one scrape job each, for more tenants than one scrape takes', async () => {
    const tenants = await Promise.all(Array.from({ length: 8 }, (_, i) => createTenant(`part ${i}`)));
    const token = await adminToken();
    const seen = new Map<string, number[]>();
    for (let index = 0; index < 3; index++) {
      const res = await call(`/metrics?part=${index}/3`, { headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(200);
      const pending = family(parsePrometheusTextFormat(await res.text()), 'switchyard_deliveries_pending')?.metrics ?? [];
      for (const m of pending) seen.set(m.labels!.tenant!, [...(seen.get(m.labels!.tenant!) ?? []), index]);
    }
    // every tenant in exactly one part; the same part every time
    for (const tenant of tenants) expect(seen.get(tenant), tenant).toHaveLength(1);
    expect([...seen.values()].every((parts) => parts.length === 1)).toBe(true);
    const again = await withTestDb((db) => metricTotals(db, { tenants: 100, subscriptions: 0 }, { index: seen.get(tenants[0]!)![0]!, of: 3 }));
    expect(again.tenants.map((t) => t.tenant_id)).toContain(tenants[0]);
    // one part of one is the whole
    const whole = await withTestDb((db) => metricTotals(db, { tenants: 100, subscriptions: 0 }, { index: 0, of: 1 }));
    expect(whole.tenants.map((t) => t.tenant_id)).toEqual(expect.arrayContaining(tenants));

    for (const part of ['3/3', '0/0', '0/65', '1', 'a/b', '-1/3', '01/3x']) {
      const res = await call(`/metrics?part=${encodeURIComponent(part)}`, { headers: { authorization: `Bearer ${token}` } });
      expect(res.status, part).toBe(422);
      expect(await res.json(), part).toMatchObject({ code: 'validation_failed', errors: [{ pointer: '/part' }] });
    }
  });

  it('sums subscriptions past the per-scrape limit as _other', async () => {
    const source = await createSource();
    const { path, url } = receiverPath();
    const subs: string[] = [];
    for (const type of ['a.one', 'b.two']) {
      const res = await api<{ id: string }>('POST', `/v1/tenants/${source.tenantId}/subscriptions`, {
        types: [type],
        action: { type: 'webhook', config: { url } },
      });
      subs.push(res.body.id);
    }
    for (const type of ['a.one', 'a.one', 'b.two']) expect((await ingest(source, makeEvent({ type }))).status).toBe(202);
    await waitForRequests(path, 3);
    const totals = await eventually(() =>
      withTestDb(async (db) => {
        const t = await metricTotals(db, { tenants: 1_000, subscriptions: 0 });
        const mine = t.deliveries.filter((d) => d.tenant_id === source.tenantId);
        return mine.length === 1 && mine[0]?.total === 3 ? mine : null;
      }),
    );
    expect(totals).toEqual([{ tenant_id: source.tenantId, subscription: OTHER_SUBSCRIPTION, status: 'delivered', total: 3 }]);
  });
});

describe('GET /v1/tenants/{t}/metrics breakdowns', () => {
  it('breaks accepted events down by type and deliveries by subscription', async () => {
    const source = await createSource();
    const { path, url } = receiverPath();
    const orders = await api<{ id: string }>('POST', `/v1/tenants/${source.tenantId}/subscriptions`, {
      types: ['orders.*'],
      action: { type: 'webhook', config: { url } },
    });
    const paid = await api<{ id: string }>('POST', `/v1/tenants/${source.tenantId}/subscriptions`, {
      types: ['orders.paid'],
      action: { type: 'webhook', config: { url } },
    });
    for (const type of ['orders.created', 'orders.created', 'orders.paid']) expect((await ingest(source, makeEvent({ type }))).status).toBe(202);
    await waitForRequests(path, 4);
    type Breakdown = {
      events: { accepted: number; by_type: { top: { type: string; count: number }[]; other: { types: number; count: number } } };
      deliveries: { by_subscription: { top: { subscription_id: string; by_status: Record<string, number> }[]; other: { subscriptions: number } } };
    };
    const m = await eventually(async () => {
      const res = await api<Breakdown>('GET', `/v1/tenants/${source.tenantId}/metrics`);
      return res.body.deliveries.by_subscription.top.reduce((n, s) => n + (s.by_status.delivered ?? 0), 0) === 4 ? res.body : null;
    });
    expect(m.events.accepted).toBe(3);
    expect(m.events.by_type).toEqual({
      top: [
        { type: 'orders.created', count: 2 },
        { type: 'orders.paid', count: 1 },
      ],
      other: { types: 0, count: 0 },
    });
    expect(m.deliveries.by_subscription.top).toEqual([
      { subscription_id: orders.body.id, by_status: { delivered: 3 } },
      { subscription_id: paid.body.id, by_status: { delivered: 1 } },
    ]);
    expect(m.deliveries.by_subscription.other.subscriptions).toBe(0);
  });
});
