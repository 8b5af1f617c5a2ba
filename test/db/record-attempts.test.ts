import { describe, expect, it } from 'vitest';
import { recordAttempts, type AttemptRecord } from '../../src/db/deliveries-consumer';
import { newId } from '../../src/lib/ids';
import { createTenant, withTestDb } from '../fixtures/api';
import { deliveredAttempt as attempt } from '../fixtures/attempts';

describe('recording attempts', () => {
  it('records the batch when one delivery vanished with its deleted tenant while its attempt ran', async () => {
    const tenantId = await createTenant();
    const kept = newId('dlv');
    await withTestDb(async (db) => {
      await db.query(
        `INSERT INTO deliveries (id, tenant_id, subscription_id, event_id, event_sequence) VALUES ($1, $2, 'sub_01JD0000000000000000000000', $3, 1)`,
        [kept, tenantId, newId('evt')],
      );
      await recordAttempts(db, [attempt('tn_01JD0000000000000000000000', newId('dlv')), attempt(tenantId, kept)], []);
      const recorded = await db.query<{ delivery_id: string }>('SELECT delivery_id FROM delivery_attempts WHERE delivery_id = $1', [kept]);
      expect(recorded.rows).toEqual([{ delivery_id: kept }]);
      const status = await db.query<{ status: string }>('SELECT status FROM deliveries WHERE id = $1', [kept]);
      expect(status.rows[0]!.status).toBe('delivered');
    });
  });

  it('keeps the run of failures when a batch with an earlier success lands after a later failure', async () => {
    const tenantId = await createTenant();
    const sub = newId('sub');
    const at = (seconds: number) => new Date(Date.now() - 60_000 + seconds * 1000).toISOString();
    await withTestDb(async (db) => {
      await db.query(
        `INSERT INTO subscriptions (id, tenant_id, types, action_type, action_config) VALUES ($1, $2, '{a.b}', 'webhook', '{"url":"https://example.com/hook"}')`,
        [sub, tenantId],
      );
      const one = async (seconds: number, ok: boolean) => {
        const id = newId('dlv');
        await db.query(`INSERT INTO deliveries (id, tenant_id, subscription_id, event_id, event_sequence) VALUES ($1, $2, $3, $4, 1)`, [
          id,
          tenantId,
          sub,
          newId('evt'),
        ]);
        const a = { ...attempt(tenantId, id, sub), started_at: at(seconds) };
        const record: AttemptRecord = ok ? a : { ...a, outcome: 'failed', status_code: 500, status: 'failed' };
        const [health] = await recordAttempts(db, [record], []);
        return health!.consecutive_failures;
      };
      // the failure at 10 s lands first, the success of 5 s after it: the run is still one failure long
      expect(await one(10, false)).toBe(1);
      expect(await one(5, true)).toBe(1);
      expect(await one(12, false)).toBe(2);
      // a success that started after the last failure ends the run
      expect(await one(20, true)).toBe(0);
    });
  });
});
