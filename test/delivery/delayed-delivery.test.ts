import { describe, expect, it } from 'vitest';
import { releaseScheduled } from '../../src/delivery/schedule-sweep';
import { settle } from '../../src/delivery/settle';
import { api, createSource, eventually, ingest, makeEvent, testEnv, withTestDb, type TestSource, subscribeWebhook } from '../fixtures/api';
import { behave, received, receiverPath, waitForRequests } from '../fixtures/receiver';
import { deliveryBodies, eventReceivedAt, recordingEnv, withLogSendingThrough } from '../fixtures/recording-queues';

type Delivery = { id: string; status: string; attempts: number; scheduled_for: string | null; subscription_id: string };

const subscribe = subscribeWebhook;

const deliveries = async (source: TestSource, query = '') =>
  (await api<{ data: Delivery[] }>('GET', `/v1/tenants/${source.tenantId}/deliveries?limit=50${query}`)).body.data;

describe('delayed delivery', () => {
  it('holds a delivery scheduled until its deliverat a few seconds ahead, then delivers it not before then', async () => {
    const source = await createSource();
    const { path, url } = receiverPath();
    await behave(path, { default: { status: 200 } });
    await subscribe(source, url);
    const deliverAt = new Date(Date.now() + 1_200);
    expect((await ingest(source, makeEvent({ deliverat: deliverAt.toISOString() }))).status).toBe(202);

    const [scheduled] = await eventually(async () => {
      const list = await deliveries(source, '&status=scheduled');
      return list.length === 1 ? list : null;
    });
    expect(scheduled).toMatchObject({ status: 'scheduled', attempts: 0 });
    expect(Date.parse(scheduled!.scheduled_for!)).toBe(deliverAt.getTime());
    expect(await received(path)).toHaveLength(0);

    const [arrived] = await waitForRequests(path, 1, 8_000);
    expect(arrived!.at).toBeGreaterThanOrEqual(deliverAt.getTime());
    const done = await eventually(async () => {
      const list = await deliveries(source);
      return list[0]?.status === 'delivered' ? list : null;
    });
    expect(done).toMatchObject([{ id: scheduled!.id, attempts: 1 }]);
  });

  it('keeps a delivery days ahead in Postgres, lets a pause hold it when due, and the sweep releases it once', async () => {
    const source = await createSource();
    const { path, url } = receiverPath();
    await behave(path, { default: { status: 200 } });
    // the subscription's own delay: three days after receipt
    const sub = await subscribe(source, url, { delay_seconds: 3 * 86_400 });
    expect((await ingest(source, makeEvent())).status).toBe(202);
    const [scheduled] = await eventually(async () => {
      const list = await deliveries(source, '&status=scheduled');
      return list.length === 1 ? list : null;
    });
    expect(Date.parse(scheduled!.scheduled_for!) - Date.now()).toBeGreaterThan(3 * 86_400_000 - 60_000);
    // its time comes while the subscription is paused
    await api('PATCH', `/v1/tenants/${source.tenantId}/subscriptions/${sub.id}`, { status: 'paused' });
    await withTestDb((db) => db.query(`UPDATE deliveries SET scheduled_for = now() - interval '1 second' WHERE id = $1`, [scheduled!.id]));
    const held = await withTestDb((db) => releaseScheduled(db, testEnv));
    expect(held).toMatchObject({ sent: 0 });
    expect(held.held).toBeGreaterThanOrEqual(1);
    expect((await deliveries(source))[0]).toMatchObject({ status: 'pending', attempts: 0 });

    // resumed: the release of what the pause held sends it, and a second sweep finds nothing more of it
    await api('PATCH', `/v1/tenants/${source.tenantId}/subscriptions/${sub.id}`, { status: 'active' });
    await waitForRequests(path, 1);
    await withTestDb((db) => releaseScheduled(db, testEnv));
    const done = await eventually(async () => {
      const list = await deliveries(source);
      return list[0]?.status === 'delivered' ? list : null;
    });
    expect(done).toMatchObject([{ attempts: 1 }]);
    expect(await received(path)).toHaveLength(1);
  });

  it('releases a long-scheduled delivery through the sweep once its due time has passed', async () => {
    const source = await createSource();
    const { path, url } = receiverPath();
    await behave(path, { default: { status: 200 } });
    const sub = await subscribe(source, url);
    const deliverAt = new Date(Date.now() + 5 * 86_400_000).toISOString();
    expect((await ingest(source, makeEvent({ deliverat: deliverAt }))).status).toBe(202);
    const [scheduled] = await eventually(async () => {
      const list = await deliveries(source, '&status=scheduled');
      return list.length === 1 ? list : null;
    });
    expect(scheduled!.scheduled_for).toBe(deliverAt);
    // not due: the sweep leaves it be
    await withTestDb((db) => releaseScheduled(db, testEnv));
    expect((await deliveries(source))[0]).toMatchObject({ status: 'scheduled' });

    await withTestDb((db) => db.query(`UPDATE deliveries SET scheduled_for = now() - interval '1 second' WHERE id = $1`, [scheduled!.id]));
    const { env, sent } = recordingEnv();
    const released = await withLogSendingThrough(env, source.tenantId, () => withTestDb((db) => releaseScheduled(db, testEnv)));
    expect(released.sent).toBeGreaterThanOrEqual(1);
    // its message carries its event's received_at: the consumer's claim reads that partition alone (and finds it)
    expect(deliveryBodies(sent, sub.id)).toEqual([
      {
        type: 'delivery.v1',
        tenant_id: source.tenantId,
        delivery_id: scheduled!.id,
        subscription_id: sub.id,
        partition_key: null,
        priority: 'normal',
        event_received_at: (await eventReceivedAt([scheduled!.id])).get(scheduled!.id),
      },
    ]);
    const [arrived] = await waitForRequests(path, 1);
    expect(JSON.parse(arrived!.body)).toMatchObject({ deliverat: deliverAt });
    await eventually(async () => ((await deliveries(source))[0]?.status === 'delivered' ? true : null));
  });

  it('sends an ordered head that came before its time back for the rest of its wait, and never releases its line for it', () => {
    const message = { tenant_id: 'tn_1', delivery_id: 'dlv_1', subscription_id: 'sub_1', partition_key: 'k' };
    const at = (dueInSeconds: number, held = false) => settle({ message, state: { kind: 'scheduled', dueInSeconds, held }, now: 0, scale: 1 });
    expect(at(90)).toEqual({ kind: 'retry', delaySeconds: 90, record: null });
    // due by now but not claimed by a hair: tried again in a second
    expect(at(0)).toMatchObject({ kind: 'retry', delaySeconds: 1 });
    // longer than the queue holds, or held by a pause: the sweep's (acknowledged, the line keeps it in flight)
    for (const s of [at(3 * 86_400), at(0, true)]) expect(s).toMatchObject({ kind: 'ack', release: null, record: null });
  });

  it('refuses a deliverat that is not an RFC 3339 time or is more than 30 days ahead', async () => {
    const source = await createSource();
    for (const deliverat of ['tomorrow', new Date(Date.now() + 31 * 86_400_000).toISOString()]) {
      const res = await ingest(source, makeEvent({ deliverat }));
      expect(res.status).toBe(422);
      expect(await res.json()).toMatchObject({ code: 'invalid_deliverat', errors: [{ pointer: '/deliverat' }] });
    }
  });
});
