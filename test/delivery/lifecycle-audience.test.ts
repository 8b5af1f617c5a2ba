import { describe, expect, it } from 'vitest';
import { forgetLifecycleAudiences, withLifecycleAudience } from '../../src/delivery/lifecycle-audience';
import type { SystemEventSpec } from '../../src/delivery/settle';
import { api, createSource, withTestDb } from '../fixtures/api';
import { receiverPath } from '../fixtures/receiver';

const spec = (tenantId: string, type: string): SystemEventSpec => ({ tenantId, type, id: `${type}-1`, subject: 'dlv_1', data: {} });

describe('lifecycle event audience', () => {
  it('stores failed/succeeded events only for a tenant with a subscription that names them, and always the others', async () => {
    const quiet = await createSource();
    const listening = await createSource();
    // a `**` subscription does not receive system events (fan-out.ts), so it is no audience
    for (const [source, types] of [
      [quiet, ['**']],
      [listening, ['switchyard.delivery.*']],
    ] as const) {
      const res = await api('POST', `/v1/tenants/${source.tenantId}/subscriptions`, {
        types,
        action: { type: 'webhook', config: { url: receiverPath().url } },
      });
      expect(res.status).toBe(201);
    }
    forgetLifecycleAudiences();
    const specs = [quiet, listening].flatMap((s) => [
      spec(s.tenantId, 'switchyard.delivery.failed'),
      spec(s.tenantId, 'switchyard.delivery.succeeded'),
      spec(s.tenantId, 'switchyard.delivery.exhausted'),
    ]);
    const kept = await withTestDb((db) => withLifecycleAudience(db, specs));
    expect(kept.map((s) => [s.tenantId === quiet.tenantId ? 'quiet' : 'listening', s.type])).toEqual([
      ['quiet', 'switchyard.delivery.exhausted'],
      ['listening', 'switchyard.delivery.failed'],
      ['listening', 'switchyard.delivery.succeeded'],
      ['listening', 'switchyard.delivery.exhausted'],
    ]);
  });
});
