import { describe, expect, it } from 'vitest';
import { api, call, createSource, createTenant, eventually, ingest, makeEvent } from '../fixtures/api';
import { receiverPath, waitForRequests } from '../fixtures/receiver';

type Metrics = {
  window: string;
  events: { accepted: number; rejected: { total: number; by_reason: Record<string, number> } };
  deliveries: { by_status: Record<string, number>; latency_ms: { p50: number | null; p95: number | null } };
  backlog: { pending_deliveries: number; outbox: number; outbox_lag_seconds: number; dispatch: number };
};
type Audit = { data: { id: string; actor: string; action: string; target: string | null; at: string }[]; next_cursor: string | null };

describe('GET /v1/tenants/{t}/metrics', () => {
  it('reports accepted and refused events by reason, deliveries by status with latency, and the backlog', async () => {
    const source = await createSource(await createTenant('metrics', { rate_limits: { source: { requests: 5, window_seconds: 3600 } } }));
    const { path, url } = receiverPath();
    expect((await api('POST', `/v1/tenants/${source.tenantId}/subscriptions`, { types: ['**'], action: { type: 'webhook', config: { url } } })).status).toBe(
      201,
    );
    for (let i = 0; i < 3; i++) expect((await ingest(source, makeEvent())).status).toBe(202);
    expect((await ingest({ ...source, secret: 'whsec_' + btoa('not-the-secret-of-this-source') }, makeEvent())).status).toBe(401);
    expect((await ingest({ ...source, secret: 'whsec_' + btoa('not-the-secret-of-this-source') }, makeEvent())).status).toBe(401);
    expect((await ingest(source, '{"specversion":')).status).toBe(400);
    const batch = await ingest(source, [makeEvent(), { specversion: '1.0' }], 'application/cloudevents-batch+json');
    expect(batch.status).toBe(202);
    expect((await ingest(source, makeEvent())).status).toBe(429);
    await waitForRequests(path, 4);

    const metrics = await eventually(async () => {
      const res = await api<Metrics>('GET', `/v1/tenants/${source.tenantId}/metrics?window=1h`);
      expect(res.status).toBe(200);
      const m = res.body;
      return m.events.accepted === 4 && m.deliveries.by_status.delivered === 4 && m.events.rejected.total === 5 ? m : null;
    });
    expect(metrics.window).toBe('1h');
    expect(metrics.events.rejected.by_reason).toEqual({ invalid_signature: 2, malformed_json: 1, invalid_event: 1, rate_limited: 1 });
    expect(metrics.deliveries.latency_ms.p50).toBeGreaterThanOrEqual(0);
    expect(metrics.deliveries.latency_ms.p95).toBeGreaterThanOrEqual(metrics.deliveries.latency_ms.p50!);
    expect(metrics.backlog).toEqual({ pending_deliveries: 0, outbox: 0, outbox_lag_seconds: 0, dispatch: 0 });
  });

  it('counts only the window asked for and refuses a window it cannot read', async () => {
    const source = await createSource();
    expect((await ingest(source, makeEvent())).status).toBe(202);
    await eventually(async () => (await api<Metrics>('GET', `/v1/tenants/${source.tenantId}/metrics?window=30d`)).body.events.accepted === 1);
    const empty = await api<Metrics>('GET', `/v1/tenants/${source.tenantId}/metrics`);
    expect(empty.body).toMatchObject({ window: '1h', deliveries: { by_status: {}, latency_ms: { p50: null, p95: null } } });
    for (const window of ['31d', '2y', '0h', 'h']) {
      expect((await api('GET', `/v1/tenants/${source.tenantId}/metrics?window=${window}`)).body, window).toMatchObject({ code: 'validation_failed' });
    }
  });
});

describe('GET /v1/tenants/{t}/audit-log', () => {
  it('records every management change, newest first, with paging, and shows it to the tenant', async () => {
    const tenantId = await createTenant('audited');
    const ok = async <T>(res: Promise<{ status: number; body: T }>) => {
      const done = await res;
      expect(done.status, JSON.stringify(done.body)).toBeLessThan(300);
      return done;
    };
    const source = await ok(api<{ id: string }>('POST', `/v1/tenants/${tenantId}/sources`, { name: 's' }));
    const { url } = receiverPath();
    const sub = await ok(api<{ id: string }>('POST', `/v1/tenants/${tenantId}/subscriptions`, { types: ['**'], action: { type: 'webhook', config: { url } } }));
    await ok(api('PATCH', `/v1/tenants/${tenantId}/subscriptions/${sub.body.id}`, { name: 'renamed' }));
    await ok(api('POST', `/v1/tenants/${tenantId}/subscriptions/${sub.body.id}/rotate-secret`, {}));
    await ok(api('POST', `/v1/tenants/${tenantId}/sources/${source.body.id}/rotate-secret`, {}));
    const plugin = await ok(
      api<{ id: string }>('POST', `/v1/tenants/${tenantId}/plugins`, { type: 'redact', name: 'pii', config: { pointers: ['/data/card'] } }),
    );
    await ok(api('PATCH', `/v1/tenants/${tenantId}/plugins/${plugin.body.id}`, { enabled: false }));
    await ok(api('DELETE', `/v1/tenants/${tenantId}/plugins/${plugin.body.id}`));
    await ok(api('PUT', `/v1/tenants/${tenantId}/event-types/orders.created`, { schema: { type: 'object' } }));
    await ok(api('DELETE', `/v1/tenants/${tenantId}/event-types/orders.created`));
    await ok(api('DELETE', `/v1/tenants/${tenantId}/subscriptions/${sub.body.id}`));
    await ok(api('PATCH', `/v1/tenants/${tenantId}`, { rate_limits: { tenant: { requests: 10, window_seconds: 1 } } }));
    const token = (await api<{ token: string }>('POST', `/v1/tenants/${tenantId}/tokens`, { scopes: ['audit-log:read'] })).body.token;

    const seen: Audit['data'] = [];
    let cursor: string | null = null;
    do {
      const page: { status: number; body: Audit } = await api<Audit>(
        'GET',
        `/v1/tenants/${tenantId}/audit-log?limit=4${cursor ? `&cursor=${cursor}` : ''}`,
        undefined,
        token,
      );
      expect(page.status).toBe(200);
      expect(page.body.data.length).toBeLessThanOrEqual(4);
      seen.push(...page.body.data);
      cursor = page.body.next_cursor;
    } while (cursor);
    expect(seen.map((e) => e.action)).toEqual([
      'token.minted',
      'tenant.updated',
      'subscription.deleted',
      'event_type.deleted',
      'event_type.versioned',
      'plugin.deleted',
      'plugin.updated',
      'plugin.created',
      'source.secret_rotated',
      'subscription.secret_rotated',
      'subscription.updated',
      'subscription.created',
      'source.created',
      'tenant.created',
    ]);
    expect(seen.every((e) => e.actor === 'admin:tests')).toBe(true);
    expect(Number(seen[0]!.id)).toBeGreaterThan(Number(seen.at(-1)!.id));
    const filtered = await api<Audit>('GET', `/v1/tenants/${tenantId}/audit-log?action=subscription.secret_rotated`, undefined, token);
    expect(filtered.body.data).toEqual([expect.objectContaining({ target: sub.body.id })]);
  });

  it('names the tenant token that made a change', async () => {
    const tenantId = await createTenant('self-service');
    const token = (await api<{ token: string }>('POST', `/v1/tenants/${tenantId}/tokens`, { scopes: ['sources:write'] })).body.token;
    expect((await api('POST', `/v1/tenants/${tenantId}/sources`, { name: 'mine' }, token)).status).toBe(201);
    const log = await api<Audit>('GET', `/v1/tenants/${tenantId}/audit-log?action=source.created`);
    expect(log.body.data[0]).toMatchObject({ actor: `tenant:${tenantId}` });
    const res = await call(`/v1/tenants/${tenantId}/audit-log`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(403);
  });
});
