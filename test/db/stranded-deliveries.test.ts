import { describe, expect, it } from 'vitest';
import { strandedDeliveries } from '../../src/db/deliveries-redrive';
import { newId } from '../../src/lib/ids';
import { createTenant, withTestDb } from '../fixtures/api';

describe('stranded deliveries', () => {
  it("takes an ordered line's head by its events' (received_at, sequence), not by sequences of different shards", async () => {
    const tenantId = await createTenant();
    const sub = newId('sub');
    // a key moved from shard 2 to shard 1: its older event has the larger sequence
    const older = { id: newId('dlv'), sequence: 2 * 10 ** 13 + 7, receivedAt: '2026-11-29T10:00:00.000Z' };
    const newer = { id: newId('dlv'), sequence: 1 * 10 ** 13 + 3, receivedAt: '2026-11-29T10:00:00.001Z' };
    await withTestDb(async (db) => {
      await db.query(
        `INSERT INTO subscriptions (id, tenant_id, types, action_type, action_config, ordering) VALUES ($1, $2, '{a.b}', 'webhook', '{"url":"https://example.com/hook"}', 'partition')`,
        [sub, tenantId],
      );
      for (const d of [newer, older])
        await db.query(
          `INSERT INTO deliveries (id, tenant_id, subscription_id, event_id, event_sequence, partition_key, event_received_at, created_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, 'k', $6, now() - interval '1 year', now() - interval '1 hour')`,
          [d.id, tenantId, sub, newId('evt'), d.sequence, d.receivedAt],
        );
      const rows = (await strandedDeliveries(db, 60, 1000)).filter((r) => r.tenant_id === tenantId);
      // with its event's received_at as epoch ms, for the message sent again
      expect(rows.map((r) => [r.id, r.event_received_at])).toEqual([[older.id, Date.parse(older.receivedAt)]]);
    });
  });
});
