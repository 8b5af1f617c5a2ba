/**
 * Source and tenant-rule lookups through Redis: a cold isolate resolves them without Postgres, the
 * copies hold no plaintext secret, and a config change drops them.
 */
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { loadTenantRules } from '../../src/db/event-types';
import { findSourceForIngest } from '../../src/db/sources';
import { rulesKey, sourceKey } from '../../src/tenancy/shared-cache';
import { api, control, createSource, createTenant, eventually, ingest, makeEvent, withTestDb } from '../fixtures/api';

const testEnv = env as Env & { UPSTASH_DIRECT_URL: string; REDIS_REQUIRED: string };
const redisSuites = Boolean(testEnv.UPSTASH_REDIS_REST_URL) || testEnv.REDIS_REQUIRED === 'true';

async function redis(command: unknown[]): Promise<unknown> {
  const res = await fetch(testEnv.UPSTASH_DIRECT_URL, {
    method: 'POST',
    headers: { authorization: `Bearer ${testEnv.UPSTASH_REDIS_REST_TOKEN}` },
    body: JSON.stringify(command),
  });
  return (await res.json<{ result: unknown }>()).result;
}

describe.skipIf(!redisSuites)('config cache in Redis', () => {
  it("stores a source and its tenant's rules in Redis on first use, with the secret still sealed", async () => {
    const source = await createSource();
    expect((await ingest(source, makeEvent())).status).toBe(202);
    const cached = await eventually(async () => (await redis(['GET', sourceKey(source.sourceId)])) as string | null);
    expect(cached).not.toContain(source.secret);
    expect(JSON.parse(cached)).toMatchObject({ id: source.sourceId, tenant_id: source.tenantId, sealed_secrets: [expect.stringMatching(/^v1\./)] });
    expect(await eventually(async () => redis(['EXISTS', rulesKey(source.tenantId)]))).toBe(1);
  });

  it("lets an isolate without a copy resolve the source and apply the tenant's rules while Postgres is unreachable", async () => {
    const tenantId = await createTenant('cold');
    expect((await api('PUT', `/v1/tenants/${tenantId}/event-types/orders.created`, { schema: { type: 'object', required: ['amount'] } })).status).toBe(201);
    const source = await createSource(tenantId);
    // what another isolate left in Redis: neither the source nor the rules were ever used in this one
    const [row, rules] = await withTestDb(async (db) => [await findSourceForIngest(db, source.sourceId), await loadTenantRules(db, tenantId)]);
    await redis(['SET', sourceKey(source.sourceId), JSON.stringify(row), 'EX', '60']);
    await redis(['SET', rulesKey(tenantId), JSON.stringify(rules), 'EX', '60']);
    await control('/proxy/pause');
    try {
      expect((await ingest(source, makeEvent({ data: { amount: 1 } }))).status).toBe(202);
      const invalid = await ingest(source, makeEvent({ data: { currency: 'EUR' } }));
      expect(invalid.status).toBe(422);
    } finally {
      await control('/proxy/resume');
    }
  });

  it("drops a tenant's copies when its configuration changes", async () => {
    const source = await createSource();
    expect((await ingest(source, makeEvent())).status).toBe(202);
    await eventually(async () => (await redis(['EXISTS', sourceKey(source.sourceId)])) === 1 && (await redis(['EXISTS', rulesKey(source.tenantId)])) === 1);
    expect((await api('POST', `/v1/tenants/${source.tenantId}/sources/${source.sourceId}/rotate-secret`, {})).status).toBe(200);
    expect(await redis(['EXISTS', sourceKey(source.sourceId), rulesKey(source.tenantId)])).toBe(0);
  });
});
