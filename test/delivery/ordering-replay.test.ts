import { describe, expect, it } from 'vitest';
import { api, createSource, eventually, ingest, makeEvent, testEnv, subscribeWebhook } from '../fixtures/api';
import { behave, received, receiverPath, waitForRequests } from '../fixtures/receiver';

type Delivery = { id: string; status: string; attempts: number };

const subscribe = subscribeWebhook;

describe('ordered delivery', () => {
  it('delivers strictly in sequence per partition key while the receiver fails intermittently', async () => {
    const source = await createSource();
    const { path, url } = receiverPath();
    // every third answer fails, so each key's line has to wait for its retries
    const responses = Array.from({ length: 30 }, (_, i) => ({ status: i % 3 === 1 ? 500 : 200 }));
    await behave(path, { responses });
    await subscribe(source, url, { ordering: 'partition', retry_schedule: [0, 1, 1, 1, 1] });

    const events = Array.from({ length: 12 }, (_, i) => makeEvent({ partitionkey: `key-${i % 3}`, data: { n: i } }));
    const res = await ingest(source, events, 'application/cloudevents-batch+json');
    expect(res.status).toBe(202);

    await eventually(
      async () => {
        const ok = (await received(path)).filter((_, i) => (responses[i]?.status ?? 200) === 200);
        return ok.length >= 12;
      },
      30_000,
      200,
    );
    const all = await received(path);
    const delivered = all
      .filter((_, i) => (responses[i]?.status ?? 200) === 200)
      .map((r) => JSON.parse(r.body) as { partitionkey: string; data: { n: number } });
    for (const key of ['key-0', 'key-1', 'key-2']) {
      const order = delivered.filter((e) => e.partitionkey === key).map((e) => e.data.n);
      expect(order, key).toEqual([...order].sort((a, b) => a - b));
      expect(order).toHaveLength(4);
    }
    // the line never had two deliveries of one key in flight: no request of a key arrived before the previous one was answered 200
    // the lines empty once the consumer has recorded the last answers (it may still be doing so when the receiver has them)
    const log = testEnv.TENANT_LOG.getByName(source.tenantId);
    await eventually(async () => (await log.status()).orderedDepth === 0, 10_000, 100);
    expect((await log.status()).orderedDepth).toBe(0);
  }, 40_000);

  it('does not hold back other keys or unordered subscriptions while one key is failing', async () => {
    const source = await createSource();
    const ordered = receiverPath();
    const plain = receiverPath();
    await behave(ordered.path, { responses: [{ status: 500 }, { status: 500 }, { status: 500 }] });
    await subscribe(source, ordered.url, { ordering: 'partition', retry_schedule: [0, 5, 5, 5] });
    await subscribe(source, plain.url);
    await ingest(
      source,
      [makeEvent({ partitionkey: 'stuck' }), makeEvent({ partitionkey: 'stuck' }), makeEvent({ partitionkey: 'free' })],
      'application/cloudevents-batch+json',
    );
    await waitForRequests(plain.path, 3);
    const seen = await waitForRequests(ordered.path, 2);
    const keys = seen.map((r) => JSON.parse(r.body).partitionkey);
    expect(keys).toContain('free');
    expect(keys.filter((k) => k === 'stuck')).toHaveLength(1);
  });
});

describe('manual retry and replay', () => {
  it('sends a failed delivery again on POST deliveries/{id}/retry', async () => {
    const source = await createSource();
    const { path, url } = receiverPath();
    await behave(path, { responses: [{ status: 500 }] });
    await subscribe(source, url, { retry_schedule: [0] });
    const { id: eventId } = await (await ingest(source, makeEvent())).json<{ id: string }>();
    const failed = await eventually(
      async () => (await api<{ data: Delivery[] }>('GET', `/v1/tenants/${source.tenantId}/deliveries?event_id=${eventId}&status=failed`)).body.data[0],
    );
    const retry = await api('POST', `/v1/tenants/${source.tenantId}/deliveries/${failed.id}/retry`);
    expect(retry).toMatchObject({ status: 202, body: { status: 'pending' } });
    const delivered = await eventually(
      async () => (await api<Delivery>('GET', `/v1/tenants/${source.tenantId}/deliveries/${failed.id}`)).body.status === 'delivered',
    );
    expect(delivered).toBe(true);
    expect(await received(path)).toHaveLength(2);
    const again = await api('POST', `/v1/tenants/${source.tenantId}/deliveries/${failed.id}/retry`);
    expect(again.status).toBe(202);
  });

  it('replays exactly the chosen events to one subscription and shows progress', async () => {
    const source = await createSource();
    const first = receiverPath();
    const second = receiverPath();
    const a = await subscribe(source, first.url);
    await subscribe(source, second.url);
    const events = Array.from({ length: 6 }, (_, i) => makeEvent({ data: { n: i, region: i % 2 ? 'eu' : 'us' } }));
    await ingest(source, events, 'application/cloudevents-batch+json');
    await waitForRequests(first.path, 6);
    await waitForRequests(second.path, 6);

    const replay = await api<{ id: string; status: string }>('POST', `/v1/tenants/${source.tenantId}/replays`, {
      subscription_id: a.id,
      where: { 'data.region': 'eu' },
    });
    expect(replay.status).toBe(202);
    const done = await eventually(async () => {
      const r = await api<{ status: string; events_matched: number; deliveries: number }>('GET', `/v1/tenants/${source.tenantId}/replays/${replay.body.id}`);
      return r.body.status === 'completed' ? r.body : null;
    });
    expect(done).toMatchObject({ events_matched: 3, deliveries: 3 });
    const firstAll = await waitForRequests(first.path, 9);
    expect(firstAll.slice(6).map((r) => JSON.parse(r.body).data.n)).toEqual([1, 3, 5]);
    expect(await received(second.path)).toHaveLength(6);
  });

  it('refuses a replay with an invalid filter or an unknown subscription', async () => {
    const source = await createSource();
    expect((await api('POST', `/v1/tenants/${source.tenantId}/replays`, { where: { x: { $regex: 'a' } } })).body).toMatchObject({ code: 'invalid_filter' });
    expect((await api('POST', `/v1/tenants/${source.tenantId}/replays`, { subscription_id: 'sub_nope' })).body).toMatchObject({
      code: 'subscription_not_found',
    });
  });
});
