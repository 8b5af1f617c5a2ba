import { runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { insertReplay } from '../../src/db/replays';
import { LINE_ORDER } from '../../src/durable/dispatch-store';
import { newId } from '../../src/lib/ids';
import { deliveryV1 } from '../../src/lib/queue-messages';
import { runReplayStep } from '../../src/queues/replay-step';
import { api, createSource, eventually, ingest, makeEvent, testEnv, subscribeWebhook, withTestDb } from '../fixtures/api';
import { behave, received, receiverPath, waitForRequests } from '../fixtures/receiver';
import { apiWith, eventReceivedAt, recordingEnv } from '../fixtures/recording-queues';

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
    const { env, sent } = recordingEnv();
    const retry = await apiWith(env, 'POST', `/v1/tenants/${source.tenantId}/deliveries/${failed.id}/retry`);
    expect(retry).toMatchObject({ status: 202, body: { status: 'pending' } });
    // its message names its event's received_at: the consumer's claim reads that partition
    const event = await api<{ received_at: string }>('GET', `/v1/tenants/${source.tenantId}/events/${eventId}`);
    expect(sent.map((m) => m.body)).toEqual([
      {
        type: 'delivery.v1',
        tenant_id: source.tenantId,
        delivery_id: failed.id,
        subscription_id: expect.any(String),
        partition_key: null,
        priority: 'normal',
        event_received_at: Date.parse(event.body.received_at),
      },
    ]);
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

  it("sends a replay's deliveries with their events' received_at, and lines up its ordered ones with it", async () => {
    const source = await createSource();
    const plain = receiverPath();
    const ordered = receiverPath();
    await behave(plain.path, { default: { status: 200 } });
    await behave(ordered.path, { default: { status: 200 } });
    const unorderedSub = await subscribe(source, plain.url);
    const orderedSub = await subscribe(source, ordered.url, { ordering: 'partition', retry_schedule: [0, 3600] });
    await ingest(
      source,
      [1, 2, 3].map((n) => makeEvent({ partitionkey: 'k', data: { n } })),
      'application/cloudevents-batch+json',
    );
    await waitForRequests(plain.path, 3);
    const log = testEnv.TENANT_LOG.getByName(source.tenantId);
    await eventually(async () => (await log.status()).orderedDepth === 0);
    // now the line's head keeps failing with its next attempt an hour away: the replay's others stay lined up behind it
    await behave(ordered.path, { default: { status: 500 } });

    // the step runs here, with queues that record what it sends (the API would leave it to the queue consumer)
    const replay = await withTestDb((db) => insertReplay(db, newId('rpl'), source.tenantId, null, {}));
    const { env, sent } = recordingEnv();
    expect(await runReplayStep(env, { type: 'replay.v1', tenant_id: source.tenantId, replay_id: replay.id })).toEqual({ kind: 'done' });
    const bodies = sent.map((m) => m.body).filter((b) => b.type === 'delivery.v1');
    expect(bodies.every((b) => deliveryV1.safeParse(b).success)).toBe(true);
    expect(bodies.map((b) => b.subscription_id)).toEqual([unorderedSub.id, unorderedSub.id, unorderedSub.id]);
    expect(new Map(bodies.map((b) => [b.delivery_id, b.event_received_at]))).toEqual(await eventReceivedAt(bodies.map((b) => String(b.delivery_id))));
    // claimed from that partition and delivered
    await waitForRequests(plain.path, 6);

    // the ordered ones are lined up, each with its event's received_at (the head's message carries it from there)
    await waitForRequests(ordered.path, 4);
    const rows = await runInDurableObject(log, (_log, state) =>
      state.storage.sql
        .exec<{ delivery_id: string; received_at: number | null }>('SELECT delivery_id, received_at FROM ordered_line WHERE subscription_id = ?', orderedSub.id)
        .toArray(),
    );
    expect(rows).toHaveLength(3);
    expect(new Map(rows.map((r) => [r.delivery_id, r.received_at]))).toEqual(await eventReceivedAt(rows.map((r) => r.delivery_id)));
  }, 20_000);

  it("lines up a replay's delivery of an event whose original is still in the line, and delivers both in turn", async () => {
    const source = await createSource();
    const ordered = receiverPath();
    // the head fails once and goes again 10 s later: the replay runs (well within that) while all three originals are lined up
    await behave(ordered.path, { responses: [{ status: 500 }], default: { status: 200 } });
    const sub = await subscribe(source, ordered.url, { ordering: 'partition', retry_schedule: [0, 10] });
    await ingest(
      source,
      [1, 2, 3].map((n) => makeEvent({ partitionkey: 'k', data: { n } })),
      'application/cloudevents-batch+json',
    );
    await waitForRequests(ordered.path, 1);

    const replay = await withTestDb((db) => insertReplay(db, newId('rpl'), source.tenantId, sub.id, {}));
    expect(await runReplayStep(testEnv, { type: 'replay.v1', tenant_id: source.tenantId, replay_id: replay.id })).toEqual({ kind: 'done' });
    const deliveries = await withTestDb(
      async (db) =>
        (
          await db.query<{ id: string; event_sequence: string; replay_id: string | null }>(
            'SELECT id, event_sequence, replay_id FROM deliveries WHERE subscription_id = $1',
            [sub.id],
          )
        ).rows,
    );
    const originals = deliveries.filter((d) => d.replay_id === null);
    const replayed = deliveries.filter((d) => d.replay_id === replay.id);
    expect([originals.length, replayed.length]).toEqual([3, 3]);
    const firstOriginal = originals.find((d) => Number(d.event_sequence) === Math.min(...originals.map((o) => Number(o.event_sequence))))!;

    // every delivery of the replay has its place in the line, next to its event's original, which is still in flight
    const log = testEnv.TENANT_LOG.getByName(source.tenantId);
    const line = await runInDurableObject(log, (_log, state) => ({
      rows: state.storage.sql
        .exec<{ delivery_id: string }>(`SELECT delivery_id FROM ordered_line WHERE subscription_id = ? ORDER BY ${LINE_ORDER}`, sub.id)
        .toArray()
        .map((r) => r.delivery_id),
      inflight: state.storage.sql.exec<{ delivery_id: string }>('SELECT delivery_id FROM ordered_inflight WHERE subscription_id = ?', sub.id).toArray(),
    }));
    expect(line.inflight).toEqual([{ delivery_id: firstOriginal.id }]);
    expect(new Set(line.rows)).toEqual(new Set(deliveries.map((d) => d.id)));

    // the failed first attempt, then each event twice, in sequence, one at a time; nothing is left pending
    const all = await waitForRequests(ordered.path, 7, 25_000);
    expect(all.map((r) => (JSON.parse(r.body) as { data: { n: number } }).data.n)).toEqual([1, 1, 1, 2, 2, 3, 3]);
    await eventually(async () => (await log.status()).orderedDepth === 0, 10_000, 100);
    const statuses = await api<{ data: Delivery[] }>('GET', `/v1/tenants/${source.tenantId}/deliveries?subscription_id=${sub.id}&limit=100`);
    expect(statuses.body.data.map((d) => d.status)).toEqual(Array(6).fill('delivered'));
  }, 45_000);

  it('refuses a replay with an invalid filter or an unknown subscription', async () => {
    const source = await createSource();
    expect((await api('POST', `/v1/tenants/${source.tenantId}/replays`, { where: { x: { $regex: 'a' } } })).body).toMatchObject({ code: 'invalid_filter' });
    expect((await api('POST', `/v1/tenants/${source.tenantId}/replays`, { subscription_id: 'sub_nope' })).body).toMatchObject({
      code: 'subscription_not_found',
    });
  });
});
