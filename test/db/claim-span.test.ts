import { describe, expect, it } from 'vitest';
import { claimDeliveries, receivedSpan, recordAttempts } from '../../src/db/deliveries-consumer';
import { newId } from '../../src/lib/ids';
import { createTenant, withTestDb } from '../fixtures/api';
import { deliveredAttempt } from '../fixtures/attempts';

describe("a consumer batch bounded by its events' received_at", () => {
  it('spans the times a second wider each way, and gives up when one is unknown', () => {
    expect(receivedSpan([Date.UTC(2026, 10, 29, 12), '2026-11-29T12:00:05.250Z'])).toEqual({
      from: '2026-11-29T11:59:59.000Z',
      to: '2026-11-29T12:00:06.250Z',
    });
    expect(receivedSpan([Date.UTC(2026, 10, 29), undefined])).toBeNull();
    expect(receivedSpan([])).toBeNull();
  });

  it('claims, loads and records a delivery read from its partitions alone, and finds nothing outside the span', async () => {
    const tenantId = await createTenant();
    const sub = newId('sub');
    const eventId = newId('evt');
    const delivery = newId('dlv');
    const at = Date.now() - 3_600_000;
    await withTestDb(async (db) => {
      await db.query(
        `INSERT INTO subscriptions (id, tenant_id, types, action_type, action_config) VALUES ($1, $2, '{a.b}', 'webhook', '{"url":"https://example.com/hook"}')`,
        [sub, tenantId],
      );
      await db.query(
        `INSERT INTO events (tenant_id, sequence, id, source_id, ce_id, ce_source, type, event, sha256, received_at)
         VALUES ($1, 1, $2, 'src_x', $2, 'test', 'a.b', '{"type":"a.b"}', 'x', to_timestamp($3 / 1000.0))`,
        [tenantId, eventId, at],
      );
      await db.query(
        `INSERT INTO deliveries (id, tenant_id, subscription_id, event_id, event_sequence, event_received_at) VALUES ($1, $2, $3, $4, 1, to_timestamp($5 / 1000.0))`,
        [delivery, tenantId, sub, eventId, at],
      );
      // a span a minute off holds neither the delivery nor its event
      expect(await claimDeliveries(db, [delivery], 60, receivedSpan([at + 60_000]))).toEqual([]);
      const [claimed] = await claimDeliveries(db, [delivery], 60, receivedSpan([at]));
      expect(claimed).toMatchObject({ id: delivery, attempts: 1, event: { type: 'a.b' }, event_received_at: new Date(at).toISOString() });
      await recordAttempts(db, [deliveredAttempt(tenantId, delivery, sub)], [], receivedSpan([claimed!.event_received_at]));
      const row = await db.query<{ status: string; n: number }>(
        'SELECT d.status, (SELECT count(*)::int FROM delivery_attempts a WHERE a.delivery_id = d.id) AS n FROM deliveries d WHERE d.id = $1',
        [delivery],
      );
      expect(row.rows[0]).toEqual({ status: 'delivered', n: 1 });
    });
  });
});
