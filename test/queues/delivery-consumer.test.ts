import { createExecutionContext, createMessageBatch, getQueueResult } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import worker from '../../src/index';
import { api, createSource, eventually, ingest, makeEvent, testEnv, withTestDb } from '../fixtures/api';
import { behave, receiverPath } from '../fixtures/receiver';

describe('delivery consumer leases', () => {
  it('retries, never acks, a message whose delivery is pending under a lease a failed consumer left behind', async () => {
    const source = await createSource();
    const { path, url } = receiverPath();
    await behave(path, { default: { status: 500 } });
    const sub = await api<{ id: string }>('POST', `/v1/tenants/${source.tenantId}/subscriptions`, {
      types: ['**'],
      action: { type: 'webhook', config: { url } },
      retry_schedule: [0, 3600],
    });
    const { id: eventId } = await (await ingest(source, makeEvent())).json<{ id: string }>();
    const delivery = await eventually(async () =>
      (await api<{ data: { id: string; attempts: number }[] }>('GET', `/v1/tenants/${source.tenantId}/deliveries?event_id=${eventId}`)).body.data.find(
        (d) => d.attempts === 1,
      ),
    );
    // what a consumer that claimed the delivery and then died leaves behind
    await withTestDb((db) => db.query(`UPDATE deliveries SET leased_until = now() + interval '60 seconds' WHERE id = $1`, [delivery.id]));

    const body = { type: 'delivery.v1', tenant_id: source.tenantId, delivery_id: delivery.id, subscription_id: sub.body.id, partition_key: null };
    const batch = createMessageBatch('switchyard-deliveries', [{ id: 'm1', timestamp: new Date(), attempts: 1, body }]);
    // getQueueResult does not report delays; watch the call itself
    const delays: (number | undefined)[] = [];
    const message = batch.messages[0]!;
    const retry = message.retry.bind(message);
    message.retry = (options) => (delays.push(options?.delaySeconds), retry(options));
    const ctx = createExecutionContext();
    await worker.queue(batch, testEnv, ctx);
    const result = await getQueueResult(batch, ctx);
    expect(result.explicitAcks).toEqual([]);
    expect(result.retryMessages.map((m) => m.msgId)).toEqual(['m1']);
    // retried when that lease is over, not before
    expect(delays).toHaveLength(1);
    expect(delays[0]).toBeGreaterThanOrEqual(58);
    expect(delays[0]).toBeLessThanOrEqual(62);
  });

  it('acks a message whose delivery no longer exists', async () => {
    const body = { type: 'delivery.v1', tenant_id: 'tn_gone', delivery_id: 'dlv_gone', subscription_id: 'sub_gone', partition_key: null };
    const batch = createMessageBatch('switchyard-deliveries', [{ id: 'm2', timestamp: new Date(), attempts: 1, body }]);
    const ctx = createExecutionContext();
    await worker.queue(batch, testEnv, ctx);
    expect((await getQueueResult(batch, ctx)).explicitAcks).toEqual(['m2']);
  });
});
