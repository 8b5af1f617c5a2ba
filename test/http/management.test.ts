import { describe, expect, it } from 'vitest';
import { adminToken, api, call, createSource, createTenant, eventually, ingest, makeEvent } from '../fixtures/api';

type Page = { data: Record<string, unknown>[]; next_cursor: string | null };

describe('management API', () => {
  it('creates and reads a tenant with an admin token', async () => {
    const created = await api<{ id: string; name: string }>('POST', '/v1/tenants', { name: 'Acme' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ id: expect.stringMatching(/^tn_/), name: 'Acme', dedup_window_seconds: 86400 });
    const read = await api('GET', `/v1/tenants/${created.body.id}`);
    expect(read).toMatchObject({ status: 200, body: { id: created.body.id, name: 'Acme' } });
  });

  it('answers 401 without a token or with a token signed by another key', async () => {
    const none = await call('/v1/tenants', { method: 'POST', body: '{}' });
    expect(none.status).toBe(401);
    expect(await none.json()).toMatchObject({ code: 'unauthorized' });
    const forged = 'eyJhbGciOiJIUzI1NiJ9.eyJzY29wZSI6ImFkbWluIn0.2P3hcJpJ6zKVo1iWb0tXfXIqnm8Y5bYkAaKx4bZbCkU';
    expect((await api('GET', '/v1/tenants/tn_x', undefined, forged)).status).toBe(401);
  });

  it('gives a tenant token its own tenant and a 404 for any other', async () => {
    const mine = await createTenant('mine');
    const theirs = await createTenant('theirs');
    const minted = await api<{ token: string }>('POST', `/v1/tenants/${mine}/tokens`, { ttl_seconds: 600 });
    expect(minted.status).toBe(201);
    const token = minted.body.token;
    expect((await api('GET', `/v1/tenants/${mine}`, undefined, token)).status).toBe(200);
    for (const path of [`/v1/tenants/${theirs}`, `/v1/tenants/${theirs}/sources`, `/v1/tenants/${theirs}/events`]) {
      const res = await api('GET', path, undefined, token);
      expect(res.status).toBe(404);
      expect(res.body).toMatchObject({ code: 'tenant_not_found' });
    }
    const escalate = await api('POST', '/v1/tenants', { name: 'x' }, token);
    expect(escalate.status).toBe(403);
    const mint = await api('POST', `/v1/tenants/${mine}/tokens`, {}, token);
    expect(mint.status).toBe(403);
  });

  it('refuses an unknown verifier type and an invalid verifier config with 422', async () => {
    const tenant = await createTenant();
    const unknown = await api('POST', `/v1/tenants/${tenant}/sources`, { name: 's', verifier: { type: 'carrier-pigeon' } });
    expect(unknown).toMatchObject({ status: 422, body: { code: 'unknown_plugin_type' } });
    const invalid = await api('POST', `/v1/tenants/${tenant}/sources`, { name: 's', verifier: { type: 'jws', config: { jwks_url: 'ftp://x' } } });
    expect(invalid).toMatchObject({ status: 422, body: { code: 'invalid_plugin_config' } });
    const missingName = await api<{ errors: { pointer: string }[] }>('POST', `/v1/tenants/${tenant}/sources`, {});
    expect(missingName).toMatchObject({ status: 422, body: { code: 'validation_failed' } });
    expect(missingName.body.errors[0]!.pointer).toBe('/name');
  });

  it('answers 400 malformed_json for a management body that is not JSON', async () => {
    const res = await call('/v1/tenants', {
      method: 'POST',
      headers: { authorization: `Bearer ${await adminToken()}`, 'content-type': 'application/json' },
      body: '{"name":',
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ code: 'malformed_json' });
  });

  it('creates a source that returns its ingest URL and secret once, and lists it without the secret', async () => {
    const tenant = await createTenant();
    const created = await api<{ id: string; ingest_url: string; secret: string }>('POST', `/v1/tenants/${tenant}/sources`, { name: 'billing' });
    expect(created.status).toBe(201);
    expect(created.body.secret).toMatch(/^whsec_/);
    expect(created.body.ingest_url).toMatch(new RegExp(`/v1/ingest/${created.body.id}$`));
    const listed = await api<Page>('GET', `/v1/tenants/${tenant}/sources`);
    expect(listed.body.data).toHaveLength(1);
    expect(listed.body.data[0]).not.toHaveProperty('secret');
    expect(JSON.stringify(listed.body)).not.toContain(created.body.secret);
  });

  it('renames a source, and refuses fields a source cannot change', async () => {
    const source = await createSource();
    const renamed = await api<{ name: string; verifier: { type: string } }>('PATCH', `/v1/tenants/${source.tenantId}/sources/${source.sourceId}`, {
      name: 'billing (eu)',
    });
    expect(renamed.status).toBe(200);
    expect(renamed.body).toMatchObject({ name: 'billing (eu)', verifier: { type: 'standard-webhooks' } });
    expect((await api('GET', `/v1/tenants/${source.tenantId}/sources/${source.sourceId}`)).body).toMatchObject({ name: 'billing (eu)' });
    const refused = await api('PATCH', `/v1/tenants/${source.tenantId}/sources/${source.sourceId}`, { verifier: { type: 'hmac' } });
    expect(refused.status).toBe(422);
    expect((await api('PATCH', `/v1/tenants/${source.tenantId}/sources/src_00000000000000000000000000`, { name: 'x' })).status).toBe(404);
    // still ingests under the new name
    expect((await ingest(source, makeEvent())).status).toBe(202);
  });

  it('deletes a source: ingest answers 404 at once, even from an isolate that had it cached, and its events stay', async () => {
    const source = await createSource();
    const accepted = await (await ingest(source, makeEvent())).json<{ id: string }>();
    const deleted = await api('DELETE', `/v1/tenants/${source.tenantId}/sources/${source.sourceId}`);
    expect(deleted.status).toBe(204);
    const after = await ingest(source, makeEvent());
    expect(after.status).toBe(404);
    expect(await after.json()).toMatchObject({ code: 'source_not_found' });
    expect((await api('GET', `/v1/tenants/${source.tenantId}/sources/${source.sourceId}`)).status).toBe(404);
    expect((await api('DELETE', `/v1/tenants/${source.tenantId}/sources/${source.sourceId}`)).status).toBe(404);
    const event = await eventually(async () => {
      const res = await api('GET', `/v1/tenants/${source.tenantId}/events/${accepted.id}`);
      return res.status === 200 ? res : null;
    });
    expect(event.body).toMatchObject({ id: accepted.id });
    const audit = await api<{ data: { action: string; target: string }[] }>('GET', `/v1/tenants/${source.tenantId}/audit-log?action=source.deleted`);
    expect(audit.body.data).toEqual([expect.objectContaining({ action: 'source.deleted', target: source.sourceId })]);
  });

  it('pages events with a cursor and filters them by type', async () => {
    const source = await createSource();
    const events = Array.from({ length: 7 }, (_, i) => makeEvent({ type: i % 2 ? 'orders.paid' : 'orders.created' }));
    await ingest(source, events, 'application/cloudevents-batch+json');
    await eventually(async () => (await api<Page>('GET', `/v1/tenants/${source.tenantId}/events`)).body.data.length === 7);

    const seen: number[] = [];
    let cursor: string | null = null;
    do {
      const page: { body: Page } = await api<Page>('GET', `/v1/tenants/${source.tenantId}/events?limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      seen.push(...page.body.data.map((e) => e.sequence as number));
      cursor = page.body.next_cursor;
    } while (cursor);
    expect(seen).toEqual([1, 2, 3, 4, 5, 6, 7]);

    const paid = await api<Page>('GET', `/v1/tenants/${source.tenantId}/events?type=orders.paid`);
    expect(paid.body.data.map((e) => e.sequence)).toEqual([2, 4, 6]);
    const future = await api<Page>('GET', `/v1/tenants/${source.tenantId}/events?after=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`);
    expect(future.body.data).toEqual([]);
    const badCursor = await api('GET', `/v1/tenants/${source.tenantId}/events?cursor=zzz`);
    // 400 like every list's invalid_cursor (issue 11), no longer this list's own 422
    expect(badCursor).toMatchObject({ status: 400, body: { code: 'invalid_cursor' } });
  });

  it('answers 404 for an unknown event, tenant and route', async () => {
    const tenant = await createTenant();
    expect((await api('GET', `/v1/tenants/${tenant}/events/evt_nope`)).body).toMatchObject({ code: 'event_not_found' });
    expect((await api('GET', '/v1/tenants/tn_nope')).body).toMatchObject({ code: 'tenant_not_found' });
    expect((await api('GET', '/v1/nothing-here')).status).toBe(404);
  });
});

describe('health and docs', () => {
  it('answers /healthz and /readyz with Postgres reachable', async () => {
    expect(await (await call('/healthz')).json()).toEqual({ status: 'ok' });
    const ready = await call('/readyz');
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ready', checks: { postgres: { ok: true } } });
  });

  it('serves an OpenAPI 3.1 document covering the routes', async () => {
    const doc = await (await call('/openapi.json')).json<{ openapi: string; paths: Record<string, unknown> }>();
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/v1/ingest/{sourceId}',
        '/v1/tenants',
        '/v1/tenants/{tenantId}',
        '/v1/tenants/{tenantId}/sources',
        '/v1/tenants/{tenantId}/events',
        '/v1/tenants/{tenantId}/events/{eventId}',
        '/healthz',
        '/readyz',
      ]),
    );
  });
});
