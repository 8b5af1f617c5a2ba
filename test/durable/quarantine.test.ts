import { runDurableObjectAlarm } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { AppendItem } from '../../src/ingest/log-types';
import { api, appendItem, createSource, eventually, ingest, makeEvent, testEnv, withTestDb, type TestSource } from '../fixtures/api';

type Quarantined = { sequence: number; id: string; ce_id: string; error: string; sqlstate: string | null; event: string; held_by: string };
type Accepted = { id: string; sequence: number; duplicate: boolean };

const storedSequences = (tenantId: string) =>
  withTestDb(async (db) =>
    (await db.query<{ sequence: string }>('SELECT sequence FROM events WHERE tenant_id = $1 ORDER BY sequence', [tenantId])).rows.map((r) =>
      Number(r.sequence),
    ),
  );

/** An item as the pipeline would hand it to the log, with `json` the door would now refuse. */
function poisonItem(source: TestSource, ceId: string, json: string): AppendItem {
  return appendItem(source.sourceId, ceId, ceId, { json });
}
const eventJson = (ceId: string, data: string) => `{"specversion":"1.0","id":"${ceId}","source":"/x","type":"orders.created","data":${data}}`;

describe('TenantLog quarantine: a row Postgres refuses never blocks the tenant', () => {
  it('stores the events after a poison row, quarantines the poison with its error, and lists it for the operator when Postgres refuses it', async () => {
    const source = await createSource();
    const log = testEnv.TENANT_LOG.getByName(source.tenantId);
    expect((await ingest(source, makeEvent({ id: 'before' }))).status).toBe(202);
    await eventually(async () => (await storedSequences(source.tenantId)).length === 1);

    // what the door refuses since the limits: 50,000-deep data (Postgres: stack depth limit exceeded) and a NUL (jsonb refuses it)
    const deep = `${'['.repeat(50_000)}${']'.repeat(50_000)}`;
    const { configVersion } = await log.status();
    const appended = await log.append({
      tenantId: source.tenantId,
      dedupWindowSeconds: 3600,
      configVersion,
      items: [poisonItem(source, 'too-deep', eventJson('too-deep', deep)), poisonItem(source, 'has-nul', eventJson('has-nul', '"a\\u0000b"'))],
    });
    expect(appended.kind === 'appended' && appended.results.map((r) => r.sequence)).toEqual([2, 3]);
    const after = await Promise.all(['after-1', 'after-2', 'after-3'].map(async (id) => (await ingest(source, makeEvent({ id }))).json<Accepted>()));
    expect(after.map((a) => a.sequence).sort()).toEqual([4, 5, 6]);

    expect(await eventually(async () => ((await storedSequences(source.tenantId)).length === 4 ? storedSequences(source.tenantId) : null))).toEqual([
      1, 4, 5, 6,
    ]);
    await runDurableObjectAlarm(log);
    expect(await log.status()).toMatchObject({ outboxDepth: 0, flushFailures: 0, quarantined: 0 });

    const listed = await api<{ data: Quarantined[]; next_cursor: string | null }>('GET', `/v1/tenants/${source.tenantId}/quarantine`);
    expect(listed.status).toBe(200);
    expect(listed.body.data.map((q) => [q.sequence, q.ce_id, q.sqlstate, q.held_by])).toEqual([
      [2, 'too-deep', '54001', 'postgres'],
      [3, 'has-nul', '22P05', 'postgres'],
    ]);
    expect(listed.body.data[0]!.error).toContain('stack depth');
    expect(listed.body.data[1]!.event).toBe(eventJson('has-nul', '"a\\u0000b"'));

    const page = await api<{ data: Quarantined[]; next_cursor: string | null }>('GET', `/v1/tenants/${source.tenantId}/quarantine?limit=1`);
    expect(page.body.data.map((q) => q.sequence)).toEqual([2]);
    const next = await api<{ data: Quarantined[] }>('GET', `/v1/tenants/${source.tenantId}/quarantine?limit=1&cursor=${page.body.next_cursor}`);
    expect(next.body.data.map((q) => q.sequence)).toEqual([3]);

    const metrics = await api<{ events: { accepted: number; quarantined: number } }>('GET', `/v1/tenants/${source.tenantId}/metrics`);
    expect(metrics.body.events).toMatchObject({ accepted: 4, quarantined: 2 });

    // the quarantined sequences stay taken, and a resend is not told it was a stored duplicate
    const later = await (await ingest(source, makeEvent({ id: 'later' }))).json<Accepted>();
    expect(later.sequence).toBe(7);
    const again = await log.append({
      tenantId: source.tenantId,
      dedupWindowSeconds: 3600,
      configVersion,
      items: [poisonItem(source, 'has-nul', eventJson('has-nul', '"a\\u0000b"'))],
    });
    expect(again.kind === 'appended' && again.results[0]).toMatchObject({ kind: 'accepted', sequence: 8, duplicate: false });
  });

  it('quarantines an event whose sequence Postgres already holds for another event instead of counting it stored', async () => {
    const source = await createSource();
    expect((await ingest(source, makeEvent({ id: 'first' }))).status).toBe(202);
    await eventually(async () => (await storedSequences(source.tenantId)).length === 1);
    // as if the log had lost its state: sequence 2 is already taken in Postgres by something else
    await withTestDb((db) =>
      db.query(
        `INSERT INTO events (tenant_id, sequence, id, source_id, ce_id, ce_source, type, event, sha256, received_at)
         VALUES ($1, 2, 'evt_squatter', $2, 'squatter', '/x', 'orders.created', '{}', 'x', now())`,
        [source.tenantId, source.sourceId],
      ),
    );
    const second = await (await ingest(source, makeEvent({ id: 'second' }))).json<Accepted>();
    expect(second.sequence).toBe(2);
    const third = await (await ingest(source, makeEvent({ id: 'third' }))).json<Accepted>();
    expect(third.sequence).toBe(3);
    await eventually(async () => (await storedSequences(source.tenantId)).includes(3));
    const listed = await eventually(async () => {
      const res = await api<{ data: Quarantined[] }>('GET', `/v1/tenants/${source.tenantId}/quarantine`);
      return res.body.data.length ? res.body.data : null;
    });
    expect(listed).toMatchObject([{ sequence: 2, ce_id: 'second', id: second.id, sqlstate: '23505', error: expect.stringContaining('evt_squatter') }]);
  });

  it('keeps a refused event in the TenantLog itself and still lists it when Postgres refuses even the quarantine row', async () => {
    const source = await createSource();
    const log = testEnv.TENANT_LOG.getByName(source.tenantId);
    // the log's first append names a tenant Postgres does not know: every row it flushes breaks a foreign key (23503)
    const ghost = { tenantId: 'tn_ghost', dedupWindowSeconds: 3600, configVersion: (await log.status()).configVersion };
    await log.append({ ...ghost, items: [poisonItem(source, 'orphan', eventJson('orphan', '{"n":1}'))] });
    await eventually(async () => (await log.status()).quarantined === 1);
    expect(await log.status()).toMatchObject({ outboxDepth: 0, quarantined: 1 });
    const listed = await api<{ data: Quarantined[] }>('GET', `/v1/tenants/${source.tenantId}/quarantine`);
    expect(listed.body.data).toMatchObject([{ sequence: 1, ce_id: 'orphan', sqlstate: '23503', held_by: 'tenant_log' }]);
  });

  it('lets a tenant token with events:read list the quarantine and refuses one without it', async () => {
    const source = await createSource();
    const mint = async (scopes: string[]) =>
      (await api<{ token: string }>('POST', `/v1/tenants/${source.tenantId}/tokens`, { scopes, ttl_seconds: 600 })).body.token;
    const reader = await api('GET', `/v1/tenants/${source.tenantId}/quarantine`, undefined, await mint(['events:read']));
    expect(reader).toMatchObject({ status: 200, body: { data: [], next_cursor: null } });
    const other = await api('GET', `/v1/tenants/${source.tenantId}/quarantine`, undefined, await mint(['sources:read']));
    expect(other).toMatchObject({ status: 403, body: { code: 'insufficient_scope' } });
  });
});
