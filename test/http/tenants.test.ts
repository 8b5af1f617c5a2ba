import { describe, expect, it } from 'vitest';
import { api, createSource, createTenant, eventually, ingest, makeEvent, testEnv, withTestDb } from '../fixtures/api';
import { received, receiverPath, waitForRequests } from '../fixtures/receiver';

type Tenant = { id: string; name: string };
type Page = { data: Tenant[]; next_cursor: string | null };

describe('tenant listing', () => {
  it('pages through every tenant in creation order when given next_cursor', async () => {
    const tag = `list-${crypto.randomUUID().slice(0, 8)}`;
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await createTenant(`${tag} ${i}`));
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const query: string = `name=${encodeURIComponent(tag)}&limit=2${cursor ? `&cursor=${cursor}` : ''}`;
      const page = await api<Page>('GET', `/v1/tenants?${query}`);
      expect(page.status).toBe(200);
      expect(page.body.data.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.data.map((t) => t.id));
      cursor = page.body.next_cursor;
    } while (cursor);
    expect(seen).toEqual(ids);
  });

  it('finds tenants by a part of their name, ignoring case', async () => {
    const tag = `Needle${crypto.randomUUID().slice(0, 8)}`;
    const wanted = await createTenant(`the ${tag} shop`);
    await createTenant('someone else');
    const page = await api<Page>('GET', `/v1/tenants?name=${tag.toLowerCase()}`);
    expect(page.body.data.map((t) => t.id)).toEqual([wanted]);
  });

  it('refuses a tenant token with 403', async () => {
    const tenant = await createTenant();
    const minted = await api<{ token: string }>('POST', `/v1/tenants/${tenant}/tokens`, { ttl_seconds: 600 });
    const res = await api('GET', '/v1/tenants', undefined, minted.body.token);
    expect(res).toMatchObject({ status: 403, body: { code: 'forbidden' } });
  });
});

describe('tenant deletion', () => {
  it('removes the tenant and its data, refuses its ingest with 404 and leaves other tenants alone', async () => {
    const doomed = await createSource();
    const bystander = await createSource();
    const { url } = receiverPath();
    const sub = await api<{ id: string }>('POST', `/v1/tenants/${doomed.tenantId}/subscriptions`, {
      types: ['**'],
      action: { type: 'webhook', config: { url } },
    });
    expect(sub.status).toBe(201);
    const stored = await ingest(doomed, makeEvent());
    expect(stored.status).toBe(202);
    expect((await ingest(bystander, makeEvent())).status).toBe(202);
    const event = (await stored.json()) as { id: string };
    await eventually(async () => (await api<Page>('GET', `/v1/tenants/${doomed.tenantId}/deliveries?event_id=${event.id}`)).body.data.length > 0);
    const token = (await api<{ token: string }>('POST', `/v1/tenants/${doomed.tenantId}/tokens`, { ttl_seconds: 600 })).body.token;

    expect((await api('DELETE', `/v1/tenants/${doomed.tenantId}`)).status).toBe(204);

    expect(await api('GET', `/v1/tenants/${doomed.tenantId}`)).toMatchObject({ status: 404, body: { code: 'tenant_not_found' } });
    expect((await api('GET', `/v1/tenants/${doomed.tenantId}/events`, undefined, token)).status).toBe(404);
    const late = await ingest(doomed, makeEvent());
    expect(late.status).toBe(404);
    expect(await late.json()).toMatchObject({ code: 'source_not_found' });
    const counts = await withTestDb(async (db) => {
      const count = async (table: string) =>
        Number((await db.query<{ n: string }>(`SELECT count(*) AS n FROM ${table} WHERE tenant_id = $1`, [doomed.tenantId])).rows[0]!.n);
      return {
        events: await count('events'),
        deliveries: await count('deliveries'),
        sources: await count('sources'),
        subscriptions: await count('subscriptions'),
        audit: await count('audit_log'),
        deletedEntry: (await db.query('SELECT 1 FROM audit_log WHERE tenant_id IS NULL AND action = $1 AND target = $2', ['tenant.deleted', doomed.tenantId]))
          .rowCount,
      };
    });
    expect(counts).toEqual({ events: 0, deliveries: 0, sources: 0, subscriptions: 0, audit: 0, deletedEntry: 1 });
    expect((await api<Page>('GET', `/v1/tenants/${bystander.tenantId}/events`)).body.data).toHaveLength(1);
    expect((await ingest(bystander, makeEvent())).status).toBe(202);
  });

  it('drops events still in the log outbox so none reach Postgres or a receiver after the delete', async () => {
    const source = await createSource();
    const { path, url } = receiverPath();
    await api('POST', `/v1/tenants/${source.tenantId}/subscriptions`, { types: ['**'], action: { type: 'webhook', config: { url } } });
    const log = testEnv.TENANT_LOG.getByName(source.tenantId);
    // a bystander tenant sent the same burst at the same time: its events reach Postgres and its receiver
    // within the same waits, so the deleted tenant's would have too
    const bystander = await createSource();
    const watch = receiverPath();
    await api('POST', `/v1/tenants/${bystander.tenantId}/subscriptions`, { types: ['**'], action: { type: 'webhook', config: { url: watch.url } } });
    const burst = (to: typeof source) => Promise.all(Array.from({ length: 20 }, () => ingest(to, makeEvent())));
    // a burst, then the delete right away: whatever is still in the outbox must go with the tenant
    const [results, controls] = await Promise.all([burst(source), burst(bystander)]);
    expect(results.every((r) => r.status === 202)).toBe(true);
    expect(controls.every((r) => r.status === 202)).toBe(true);
    expect((await api('DELETE', `/v1/tenants/${source.tenantId}`)).status).toBe(204);
    const status = await log.status();
    expect(status.outboxDepth).toBe(0);
    expect(status.dispatchDepth).toBe(0);
    const storedOf = (tenantId: string) => withTestDb(async (db) => (await db.query('SELECT 1 FROM events WHERE tenant_id = $1', [tenantId])).rowCount);
    await eventually(async () => (await storedOf(bystander.tenantId)) === 20);
    await new Promise((r) => setTimeout(r, 1500));
    const rows = await storedOf(source.tenantId);
    expect(rows).toBe(0);
    const before = (await received(path)).length;
    // the bystander's last deliveries can wait behind a consumer batch still recording the deleted tenant's attempts
    await waitForRequests(watch.path, 20, 30_000);
    await new Promise((r) => setTimeout(r, 500));
    expect((await received(path)).length).toBe(before);
  }, 45_000);

  it('answers 404 for a tenant that does not exist and 403 for a tenant token', async () => {
    expect(await api('DELETE', '/v1/tenants/tn_01JD0000000000000000000000')).toMatchObject({ status: 404, body: { code: 'tenant_not_found' } });
    const tenant = await createTenant();
    const minted = await api<{ token: string }>('POST', `/v1/tenants/${tenant}/tokens`, { ttl_seconds: 600 });
    expect((await api('DELETE', `/v1/tenants/${tenant}`, undefined, minted.body.token)).status).toBe(403);
    expect((await api('GET', `/v1/tenants/${tenant}`)).status).toBe(200);
  });
});
