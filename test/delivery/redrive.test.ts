import { createExecutionContext, createScheduledController, runInDurableObject, waitOnExecutionContext } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import worker from '../../src/index';
import { api, createSource, eventually, ingest, makeEvent, testEnv, withTestDb, type TestSource } from '../fixtures/api';
import { behave, received, receiverPath, waitForRequests } from '../fixtures/receiver';
import { deliveryBodies, eventReceivedAt, recordingEnv, withLogSendingThrough } from '../fixtures/recording-queues';

type Delivery = { id: string; status: string; attempts: number };

const deliveriesOf = async (source: TestSource) => (await api<{ data: Delivery[] }>('GET', `/v1/tenants/${source.tenantId}/deliveries?limit=50`)).body.data;

async function sweep(): Promise<void> {
  const ctx = createExecutionContext();
  await worker.scheduled(createScheduledController({ cron: '* * * * *', scheduledTime: Date.now() }), testEnv, ctx);
  await waitOnExecutionContext(ctx);
}

/** What a lost queue message leaves behind: pending, nobody holding it, untouched for ten minutes. */
const strand = (id: string, status = 'pending') =>
  withTestDb((db) =>
    db.query(
      `UPDATE deliveries SET status = $2, finished_at = NULL, next_attempt_at = NULL, leased_until = NULL, updated_at = now() - interval '10 minutes' WHERE id = $1`,
      [id, status],
    ),
  );

/**
 * A control for the tests that sweep and then check nothing was sent: another tenant's delivery, stranded
 * the same way, which the same sweep must send to its own receiver path within the same wait.
 */
async function strandedControl(): Promise<string> {
  const source = await createSource();
  const { path, url } = receiverPath();
  await behave(path, { default: { status: 200 } });
  await api('POST', `/v1/tenants/${source.tenantId}/subscriptions`, { types: ['**'], action: { type: 'webhook', config: { url } }, ordering: 'partition' });
  await ingest(source, makeEvent({ partitionkey: 'k' }));
  const [delivered] = await eventually(async () => {
    const list = await deliveriesOf(source);
    return list.length === 1 && list[0]!.status === 'delivered' ? list : null;
  });
  await waitForRequests(path, 1);
  await strand(delivered!.id);
  return path;
}

/** Sweeps, waits until the control's resend has arrived, then waits `ms` more: a resend of anything else by the same sweep would have arrived too. */
async function sweepPastControl(control: string, ms: number): Promise<void> {
  await sweep();
  await waitForRequests(control, 2);
  await new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * An ordered line of two events on one key whose first attempt failed with its retry an hour away:
 * the line holds the first in flight and the second behind it. Deliveries by attempts, the first first.
 */
async function lineHeldInFlight() {
  const source = await createSource();
  const { path, url } = receiverPath();
  await behave(path, { responses: [{ status: 500 }], default: { status: 200 } });
  const sub = await api<{ id: string }>('POST', `/v1/tenants/${source.tenantId}/subscriptions`, {
    types: ['**'],
    action: { type: 'webhook', config: { url } },
    ordering: 'partition',
    retry_schedule: [0, 3600],
  });
  await ingest(
    source,
    [makeEvent({ partitionkey: 'k', data: { n: 1 } }), makeEvent({ partitionkey: 'k', data: { n: 2 } })],
    'application/cloudevents-batch+json',
  );
  const deliveries = await eventually(async () => {
    const list = await deliveriesOf(source);
    return list.length === 2 && list.some((d) => d.attempts === 1) ? list.sort((a, b) => b.attempts - a.attempts) : null;
  });
  return { source, path, subscriptionId: sub.body.id, deliveries };
}

describe('redrive sweep (Cron Trigger)', () => {
  it('sends a pending delivery whose queue message was lost, once, and leaves recent ones alone', async () => {
    const source = await createSource();
    const { path, url } = receiverPath();
    await behave(path, { default: { status: 200 } });
    const sub = await api<{ id: string }>('POST', `/v1/tenants/${source.tenantId}/subscriptions`, {
      types: ['**'],
      action: { type: 'webhook', config: { url } },
    });
    await ingest(source, makeEvent());
    const [first] = await eventually(async () => {
      const list = await deliveriesOf(source);
      return list.length === 1 && list[0]!.status === 'delivered' ? list : null;
    });
    await strand(first!.id);

    const { env, sent } = recordingEnv();
    await withLogSendingThrough(env, source.tenantId, sweep);
    await waitForRequests(path, 2);
    // sent again with its event's received_at: the consumer's claim reads that partition alone (and found it)
    expect(deliveryBodies(sent, sub.body.id)).toEqual([
      {
        type: 'delivery.v1',
        tenant_id: source.tenantId,
        delivery_id: first!.id,
        subscription_id: sub.body.id,
        partition_key: null,
        priority: 'normal',
        event_received_at: (await eventReceivedAt([first!.id])).get(first!.id),
      },
    ]);
    expect(await eventually(async () => (await deliveriesOf(source)).find((d) => d.id === first!.id && d.status === 'delivered'))).toMatchObject({
      attempts: 2,
    });
    // the sweep marked it handled: a second sweep right away sends nothing more, while it does send a
    // delivery stranded elsewhere within the same wait
    const control = await strandedControl();
    await sweepPastControl(control, 500);
    expect(await received(path)).toHaveLength(2);
  });

  it('releases an ordered line whose in-flight delivery finished without releasing the next', async () => {
    const {
      source,
      path,
      deliveries: [one, two],
    } = await lineHeldInFlight();
    expect(await testEnv.TENANT_LOG.getByName(source.tenantId).status()).toMatchObject({ orderedDepth: 2 });
    // the first ended (say, by hand) but the line never heard; the second has waited ten minutes
    await withTestDb((db) => db.query(`UPDATE deliveries SET status = 'failed', finished_at = now(), next_attempt_at = NULL WHERE id = $1`, [one!.id]));
    await strand(two!.id);

    await sweep();
    const requests = await waitForRequests(path, 2);
    expect(JSON.parse(requests[1]!.body)).toMatchObject({ data: { n: 2 } });
    expect(await eventually(async () => (await deliveriesOf(source)).find((d) => d.id === two!.id && d.status === 'delivered'))).toBeTruthy();
    expect(await eventually(async () => ((await testEnv.TENANT_LOG.getByName(source.tenantId).status()).orderedDepth === 0 ? true : null))).toBe(true);
  });

  it("sends an ordered line's in-flight head again with its event's received_at when its line row has none", async () => {
    const {
      source,
      path,
      subscriptionId,
      deliveries: [head, second],
    } = await lineHeldInFlight();
    // the head's line row was written before the column (no received_at); its retry message is lost
    const log = testEnv.TENANT_LOG.getByName(source.tenantId);
    await runInDurableObject(log, (_log, state) => state.storage.sql.exec('UPDATE ordered_line SET received_at = NULL WHERE delivery_id = ?', head!.id));
    await strand(head!.id);

    const { env, sent } = recordingEnv();
    await withLogSendingThrough(env, source.tenantId, async () => {
      await sweep();
      // the head, delivered now, releases the second (through the same log)
      await eventually(async () => deliveryBodies(sent, subscriptionId).length === 2);
    });
    const receivedAt = await eventReceivedAt([head!.id, second!.id]);
    expect(deliveryBodies(sent, subscriptionId).map((b) => [b.delivery_id, b.partition_key, b.event_received_at])).toEqual([
      [head!.id, 'k', receivedAt.get(head!.id)],
      [second!.id, 'k', receivedAt.get(second!.id)],
    ]);
    const requests = await waitForRequests(path, 3);
    expect(requests.map((r) => JSON.parse(r.body).data.n)).toEqual([1, 1, 2]);
    expect(await eventually(async () => ((await deliveriesOf(source)).every((d) => d.status === 'delivered') ? true : null))).toBe(true);
  });

  it('does not send a delivery that waits its turn behind an in-flight one', async () => {
    const source = await createSource();
    const { path, url } = receiverPath();
    await behave(path, { responses: [{ status: 500 }], default: { status: 200 } });
    await api('POST', `/v1/tenants/${source.tenantId}/subscriptions`, {
      types: ['**'],
      action: { type: 'webhook', config: { url } },
      ordering: 'partition',
      retry_schedule: [0, 3600],
    });
    await ingest(source, [makeEvent({ partitionkey: 'k' }), makeEvent({ partitionkey: 'k' })], 'application/cloudevents-batch+json');
    const list = await eventually(async () => {
      const all = await deliveriesOf(source);
      return all.length === 2 && all.some((d) => d.attempts === 1) ? all : null;
    });
    // both look stranded, but the first is in flight (retrying in an hour) and the second waits behind it
    for (const d of list) await withTestDb((db) => db.query(`UPDATE deliveries SET updated_at = now() - interval '10 minutes' WHERE id = $1`, [d.id]));
    // the head of another ordered line, stranded: the same sweep sends it within the same wait
    const control = await strandedControl();

    await sweepPastControl(control, 1_000);
    expect(await received(path)).toHaveLength(1);
  });

  it('finishes as skipped, instead of sending again every sweep, a delivery whose event Postgres quarantined', async () => {
    const control = await strandedControl();
    const source = await createSource();
    const { path, url } = receiverPath();
    await behave(path, { default: { status: 200 } });
    await api('POST', `/v1/tenants/${source.tenantId}/subscriptions`, { types: ['**'], action: { type: 'webhook', config: { url } } });
    await ingest(source, makeEvent());
    const [delivery] = await eventually(async () => {
      const list = await deliveriesOf(source);
      return list.length === 1 && list[0]!.status === 'delivered' ? list : null;
    });
    await waitForRequests(path, 1);
    // what a sync attempt's claim leaves when the flush then quarantines the event: the delivery row, and the event in quarantine only
    await withTestDb(async (db) => {
      await db.query(
        `INSERT INTO quarantined_events (tenant_id, sequence, id, source_id, ce_id, type, event, error, sqlstate, received_at)
         SELECT tenant_id, sequence, id, source_id, ce_id, type, event::text, 'refused', '22P05', received_at FROM events WHERE tenant_id = $1`,
        [source.tenantId],
      );
      await db.query('DELETE FROM events WHERE tenant_id = $1', [source.tenantId]);
    });
    await strand(delivery!.id);
    await sweepPastControl(control, 500);
    expect(await received(path)).toHaveLength(1);
    const row = await withTestDb(
      async (db) => (await db.query<{ status: string; last_error: string }>('SELECT status, last_error FROM deliveries WHERE id = $1', [delivery!.id])).rows[0],
    );
    expect(row).toMatchObject({ status: 'skipped', last_error: expect.stringContaining('quarantined') });
  });
});
