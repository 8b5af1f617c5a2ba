import { describe, expect, it } from 'vitest';
import { api, call } from '../fixtures/api';

type Problem = { code: string; detail: string };

describe('wrong methods', () => {
  it('answers 405 with Allow when the path exists with other methods, and 404 when it does not exist', async () => {
    const ingest = await call('/v1/ingest/src_01JD0000000000000000000000');
    expect(ingest.status).toBe(405);
    expect(ingest.headers.get('allow')).toBe('POST');
    expect(await ingest.json()).toMatchObject({ code: 'method_not_allowed' });

    const tenants = await api<Problem>('DELETE', '/v1/tenants');
    expect(tenants.status).toBe(405);
    expect(tenants.headers.get('allow')).toBe('GET, POST');
    const tenant = await api<Problem>('PUT', '/v1/tenants/tn_01JD0000000000000000000000');
    expect(tenant.status).toBe(405);
    expect(tenant.headers.get('allow')).toBe('DELETE, GET, PATCH');

    const nowhere = await call('/v1/nowhere', { method: 'PUT' });
    expect(nowhere.status).toBe(404);
    expect(await nowhere.json()).toMatchObject({ code: 'not_found' });
  });
});
