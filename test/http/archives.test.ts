import { describe, expect, it } from 'vitest';
import { recordPart } from '../../src/db/archives';
import { api, createTenant, eventually, withTestDb } from '../fixtures/api';

async function tenantToken(tenantId: string): Promise<string> {
  return (await api<{ token: string }>('POST', `/v1/tenants/${tenantId}/tokens`, {})).body.token;
}

describe('retention settings', () => {
  it('shows the defaults, lets an admin set each period, and refuses bad values and tenant tokens', async () => {
    const tenantId = await createTenant();
    const path = `/v1/tenants/${tenantId}/retention`;
    expect((await api('GET', path)).body).toMatchObject({
      events_days: null,
      effective: { events_days: 30, deliveries_days: 30, audit_days: 365 },
      defaults: { events_days: 30, deliveries_days: 30, audit_days: 365 },
      archived_until: null,
    });
    const set = await api('PUT', path, { events_days: 7, audit_days: 3650 });
    expect(set).toMatchObject({
      status: 200,
      body: { events_days: 7, deliveries_days: null, audit_days: 3650, effective: { events_days: 7, deliveries_days: 30 } },
    });

    for (const [body, pointer] of [
      [{ events_days: 0 }, '/events_days'],
      [{ deliveries_days: 3651 }, '/deliveries_days'],
      [{ audit_days: 1.5 }, '/audit_days'],
      [{ events_days: '7' }, '/events_days'],
      [{ event_days: 7 }, ''],
    ] as const) {
      const res = await api<{ code: string; errors: { pointer: string }[] }>('PUT', path, body);
      expect(res.status, JSON.stringify(body)).toBe(422);
      expect(res.body.code).toBe('validation_failed');
      if (pointer) expect(res.body.errors.map((e) => e.pointer)).toContain(pointer);
    }

    const token = await tenantToken(tenantId);
    expect((await api('GET', path, undefined, token)).body).toMatchObject({ events_days: 7 });
    expect(await api('PUT', path, { events_days: 1 }, token)).toMatchObject({ status: 403, body: { code: 'forbidden' } });
    // another tenant's token sees no such tenant
    const other = await tenantToken(await createTenant());
    expect((await api('GET', path, undefined, other)).status).toBe(404);
  });
});

describe('archives API', () => {
  it('lists archived days newest first with paging, and answers unknown or malformed days', async () => {
    const tenantId = await createTenant();
    const part = (day: string, n: number, seq: number) => ({
      day,
      part: n,
      key: `tenants/${tenantId}/events/${day}/${String(n).padStart(4, '0')}.ndjson.gz`,
      count: 2,
      seq_from: seq,
      seq_to: seq + 1,
      received_from: `${day}T01:00:00.000Z`,
      received_to: `${day}T02:00:00.000Z`,
      sha256: 'ab'.repeat(32),
      bytes: 100,
      raw_bytes: 400,
    });
    await withTestDb(async (db) => {
      await recordPart(db, tenantId, part('2026-01-01', 0, 1));
      await recordPart(db, tenantId, part('2026-01-01', 1, 3));
      await recordPart(db, tenantId, part('2026-01-02', 0, 5));
      await recordPart(db, tenantId, part('2026-01-03', 0, 7));
    });
    const path = `/v1/tenants/${tenantId}/archives`;
    const first = await api<{ data: { day: string }[]; next_cursor: string }>('GET', `${path}?limit=2`);
    expect(first.body.data.map((d) => d.day)).toEqual(['2026-01-03', '2026-01-02']);
    const second = await api<{ data: unknown[]; next_cursor: string | null }>('GET', `${path}?limit=2&cursor=${first.body.next_cursor}`);
    expect(second.body).toEqual({
      data: [
        {
          day: '2026-01-01',
          parts: 2,
          count: 4,
          sequence: { from: 1, to: 4 },
          received_at: { from: '2026-01-01T01:00:00.000Z', to: '2026-01-01T02:00:00.000Z' },
          bytes: 200,
          raw_bytes: 800,
        },
      ],
      next_cursor: null,
    });
    expect((await api<{ data: { day: string }[] }>('GET', `${path}?from=2026-01-02&to=2026-01-03`)).body.data.map((d) => d.day)).toEqual(['2026-01-02']);
    expect((await api('GET', `${path}/2026-01-01`)).body).toMatchObject({ count: 4, parts: [{ part: 0 }, { part: 1 }] });

    expect((await api('GET', `${path}/2026-01-04`)).body).toMatchObject({ status: 404, code: 'archive_not_found' });
    expect((await api('GET', `${path}/2026-02-30`)).status).toBe(422);
    expect((await api('GET', `${path}/0000-01-01`)).status).toBe(422);
    expect((await api('GET', `${path}?from=yesterday`)).status).toBe(422);
    expect((await api('GET', `${path}?cursor=nonsense`)).body).toMatchObject({ status: 400, code: 'invalid_cursor' });
    // recorded but not in the bucket: the download says so, no 500
    expect((await api('GET', `${path}/2026-01-01/parts/0`)).body).toMatchObject({ status: 503, code: 'archive_unavailable' });
    expect((await api('GET', `${path}/2026-01-01/parts/7`)).status).toBe(404);
    // a restore-replay over a part the bucket lacks fails with the reason, instead of skipping the events
    const replay = await api<{ id: string }>('POST', `/v1/tenants/${tenantId}/replays`, { from: '2025-12-31T00:00:00Z', to: '2026-01-02T00:00:00Z' });
    expect(replay.status).toBe(202);
    const failed = await eventually(async () => {
      const r = await api<{ status: string; error: string | null }>('GET', `/v1/tenants/${tenantId}/replays/${replay.body.id}`);
      return r.body.status !== 'running' ? r.body : null;
    });
    expect(failed).toMatchObject({ status: 'failed', error: expect.stringContaining('0000.ndjson.gz is missing') });
    // nothing of it under another tenant
    const other = await createTenant();
    expect((await api<{ data: unknown[] }>('GET', `/v1/tenants/${other}/archives`)).body.data).toEqual([]);
    expect((await api('GET', `/v1/tenants/${other}/archives/2026-01-01`)).status).toBe(404);
  });
});
