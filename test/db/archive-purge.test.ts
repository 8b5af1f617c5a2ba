import { describe, expect, it } from 'vitest';
import { manifestKey, partKey } from '../../src/archive/archive-format';
import { runArchivePurges } from '../../src/archive/purge';
import { newId } from '../../src/lib/ids';
import { api, createTenant, eventually, testEnv, withTestDb } from '../fixtures/api';

const keysUnder = async (tenantId: string) => (await testEnv.ARCHIVE.list({ prefix: `tenants/${tenantId}/` })).objects.map((o) => o.key).sort();
const purgeRow = (tenantId: string) =>
  withTestDb(
    async (db) => (await db.query<{ objects_deleted: string }>('SELECT objects_deleted FROM archive_purges WHERE tenant_id = $1', [tenantId])).rows[0],
  );

describe('deleting a tenant deletes its archive in R2', () => {
  it('removes every object under tenants/{t}/ after the delete, and nothing of another tenant', async () => {
    const doomed = await createTenant('archived and deleted');
    const kept = await createTenant('archived and kept');
    const doomedKeys = [partKey(doomed, '2026-01-02', 0), partKey(doomed, '2026-01-02', 1), manifestKey(doomed, '2026-01-02')];
    for (const key of doomedKeys) await testEnv.ARCHIVE.put(key, 'archived bytes');
    await testEnv.ARCHIVE.put(partKey(kept, '2026-01-02', 0), 'kept bytes');
    expect(await keysUnder(doomed)).toEqual([...doomedKeys].sort());

    expect((await api('DELETE', `/v1/tenants/${doomed}`)).status).toBe(204);
    // the route tries at once in waitUntil; the Cron job would resume it
    await eventually(async () => (await keysUnder(doomed)).length === 0 && (await purgeRow(doomed)) === undefined);
    expect(await keysUnder(kept)).toEqual([partKey(kept, '2026-01-02', 0)]);
  });

  it('works through a large archive in bounded runs and keeps the row until the prefix is empty', async () => {
    const tenantId = newId('tn'); // a tenant already deleted: only its purge row and objects are left
    const keys = Array.from({ length: 1_200 }, (_, i) => partKey(tenantId, `2026-02-${String((i % 28) + 1).padStart(2, '0')}`, i));
    for (let i = 0; i < keys.length; i += 100) await Promise.all(keys.slice(i, i + 100).map((key) => testEnv.ARCHIVE.put(key, 'x')));
    await withTestDb((db) => db.query('INSERT INTO archive_purges (tenant_id) VALUES ($1)', [tenantId]));

    const first = await withTestDb((db) => runArchivePurges(db, testEnv.ARCHIVE, { tenantsPerRun: 10, objectsPerRun: 500, runMs: 10_000 }, tenantId));
    expect(first).toEqual([{ tenant_id: tenantId, deleted: 500, finished: false }]);
    expect(await purgeRow(tenantId)).toEqual({ objects_deleted: '500' });

    await withTestDb((db) => runArchivePurges(db, testEnv.ARCHIVE, undefined, tenantId));
    expect(await keysUnder(tenantId)).toEqual([]);
    expect(await purgeRow(tenantId)).toBeUndefined();
  });
});
