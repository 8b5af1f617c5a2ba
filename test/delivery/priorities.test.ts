import { runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { PlannedDelivery } from '../../src/delivery/fan-out';
import { dropDispatched, finishOrdered, pendingDispatch, redriveDeliveries, stageDeliveries, upgradeDispatchSchema } from '../../src/durable/dispatch-store';
import { testEnv, subscribeWebhook } from '../fixtures/api';
import { adminToken, api, createSource, createTenant, eventually, ingest, makeEvent, type TestSource } from '../fixtures/api';
import { behave, received, receiverPath, waitForRequests } from '../fixtures/receiver';

type Delivery = { id: string; event_id: string; status: string; priority: string };

const subscribe = subscribeWebhook<{ id: string; priority: string | null }>;

const allowCritical = (source: TestSource, token?: string) =>
  api<{ allow_critical: boolean; code?: string }>('PATCH', `/v1/tenants/${source.tenantId}/sources/${source.sourceId}`, { allow_critical: true }, token);

const deliveriesOf = async (source: TestSource, subscriptionId: string) =>
  (await api<{ data: Delivery[] }>('GET', `/v1/tenants/${source.tenantId}/deliveries?subscription_id=${subscriptionId}&limit=100`)).body.data;

const seen = (body: string) => JSON.parse(body) as { id: string; priority?: string; data: { n: number } };

describe('priority lanes', () => {
  it('delivers a critical event before a backlog of normal deliveries to the same slow endpoint drains', async () => {
    const source = await createSource();
    expect((await allowCritical(source)).body.allow_critical).toBe(true);
    const { path, url } = receiverPath();
    // every request takes 250 ms: the normal lane works off 25 at a time, 6 at once
    await behave(path, { default: { status: 200, delayMs: 250 } });
    const sub = await subscribe(source, url);
    const backlog = Array.from({ length: 75 }, (_, n) => makeEvent({ data: { n } }));
    expect((await ingest(source, backlog, 'application/cloudevents-batch+json')).status).toBe(202);
    // the backlog is queued and being worked off
    await waitForRequests(path, 1);

    const critical = makeEvent({ priority: 'critical', data: { n: -1 } });
    expect((await ingest(source, critical)).status).toBe(202);
    const arrived = await eventually(async () => {
      const all = await received(path);
      const at = all.findIndex((r) => seen(r.body).id === critical.id);
      return at >= 0 ? { at, all } : null;
    }, 15_000);
    // it overtook the queue: most of the backlog was still waiting when it arrived
    expect(arrived.at).toBeLessThan(backlog.length / 2);
    expect(seen(arrived.all[arrived.at]!.body).priority).toBe('critical');

    const lanes = await eventually(async () => {
      const list = await deliveriesOf(source, sub.id);
      return list.length === 76 ? list : null;
    });
    expect(lanes.filter((d) => d.priority === 'critical')).toHaveLength(1);
    expect(lanes.filter((d) => d.priority === 'normal')).toHaveLength(75);
  }, 20_000);

  it('keeps per-key order in an ordered line whatever the priorities, and applies the subscription default to events without one', async () => {
    const source = await createSource();
    await allowCritical(source);
    const { path, url } = receiverPath();
    // the first delivery is slow: anything allowed to overtake it would arrive first
    await behave(path, { responses: [{ status: 200, delayMs: 400 }], default: { status: 200 } });
    const sub = await subscribe(source, url, { ordering: 'partition', priority: 'high' });
    expect(sub.priority).toBe('high');
    const priorities = ['low', 'normal', 'critical', undefined, 'high', 'critical'];
    const events = priorities.map((priority, n) => makeEvent({ partitionkey: 'order-7', data: { n }, ...(priority ? { priority } : {}) }));
    expect((await ingest(source, events, 'application/cloudevents-batch+json')).status).toBe(202);

    const all = await waitForRequests(path, events.length);
    expect(all.map((r) => seen(r.body).data.n)).toEqual([0, 1, 2, 3, 4, 5]);
    const list = await eventually(async () => {
      const rows = await deliveriesOf(source, sub.id);
      return rows.length === events.length && rows.every((d) => d.status === 'delivered') ? rows : null;
    });
    const byEvent = new Map(list.map((d) => [d.event_id, d.priority]));
    const stored = await api<{ data: { id: string; ce_id: string }[] }>('GET', `/v1/tenants/${source.tenantId}/events?limit=10`);
    const lane = (n: number) => byEvent.get(stored.body.data.find((e) => e.ce_id === events[n]!.id)!.id);
    // the event's own priority wins; the one without takes the subscription's default
    expect([0, 1, 2, 3, 4, 5].map(lane)).toEqual(['low', 'normal', 'critical', 'high', 'high', 'critical']);
  }, 20_000);

  it('refuses an unknown priority, and critical events from a source an admin has not allowed', async () => {
    const source = await createSource();
    const bad = await ingest(source, makeEvent({ priority: 'urgent' }));
    expect(bad.status).toBe(422);
    expect(await bad.json()).toMatchObject({ code: 'invalid_event', errors: [{ pointer: '/priority' }] });

    const refused = await ingest(source, makeEvent({ priority: 'critical' }));
    expect(refused.status).toBe(422);
    expect(await refused.json()).toMatchObject({ code: 'critical_not_allowed' });
    const batch = await ingest(source, [makeEvent({ priority: 'high' }), makeEvent({ priority: 'critical' })], 'application/cloudevents-batch+json');
    expect(((await batch.json()) as { results: { status: number; code?: string }[] }).results.map((r) => r.code ?? r.status)).toEqual([
      202,
      'critical_not_allowed',
    ]);

    const tenantToken = (await api<{ token: string }>('POST', `/v1/tenants/${source.tenantId}/tokens`, {})).body.token;
    expect(await allowCritical(source, tenantToken)).toMatchObject({ status: 403, body: { code: 'forbidden' } });
    expect(await allowCritical(source, await adminToken())).toMatchObject({ status: 200, body: { allow_critical: true } });
    expect((await ingest(source, makeEvent({ priority: 'critical' }))).status).toBe(202);
  });
});

describe('critical events and the ingest rate limits', () => {
  it('answers 429 to normal events at the limit while critical ones are accepted, and counts them', async () => {
    const source = await createSource(await createTenant('priority limits', { rate_limits: { source: { requests: 2, window_seconds: 3600 } } }));
    await allowCritical(source);
    for (let i = 0; i < 2; i++) expect((await ingest(source, makeEvent())).status).toBe(202);
    const limited = await ingest(source, makeEvent({ priority: 'high' }));
    expect(limited.status).toBe(429);
    expect(await limited.json()).toMatchObject({ code: 'rate_limited' });

    for (let i = 0; i < 3; i++) expect((await ingest(source, makeEvent({ priority: 'critical' }))).status).toBe(202);
    const allCritical = [makeEvent({ priority: 'critical' }), makeEvent({ priority: 'critical' })];
    expect((await ingest(source, allCritical, 'application/cloudevents-batch+json')).status).toBe(202);
    // a batch skips the limit only when every event in it is critical
    const mixed = [makeEvent({ priority: 'critical' }), makeEvent()];
    expect((await ingest(source, mixed, 'application/cloudevents-batch+json')).status).toBe(429);

    const metrics = await eventually(async () => {
      const res = await api<{ events: { accepted: number; rate_limit_bypassed: number; rejected: { by_reason: Record<string, number> } } }>(
        'GET',
        `/v1/tenants/${source.tenantId}/metrics?window=1h`,
      );
      return res.body.events.rate_limit_bypassed === 4 && res.body.events.accepted === 7 ? res.body : null;
    });
    expect(metrics.events.rejected.by_reason).toEqual({ rate_limited: 2 });
  });
});

describe('the TenantLog dispatch stage', () => {
  const planned = (n: number, priority: PlannedDelivery['priority']): PlannedDelivery => ({
    id: `dlv_${n}`,
    subscriptionId: 'sub_1',
    eventId: `evt_${n}`,
    sequence: n,
    ordered: false,
    partitionKey: '',
    priority,
  });

  it('hands over staged messages highest lane first, and upgrades a log staged before lanes existed', async () => {
    const stub = testEnv.TENANT_LOG.getByName(`dispatch-lanes-${crypto.randomUUID()}`);
    const batches = await runInDurableObject(stub, (_log, state) =>
      state.storage.transactionSync(() => {
        const sql = state.storage.sql;
        // a log from before lanes: the old table shape with a message in it
        sql.exec('DROP INDEX IF EXISTS dispatch_by_lane');
        sql.exec('DROP TABLE dispatch');
        sql.exec('CREATE TABLE dispatch (id INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL)');
        sql.exec('INSERT INTO dispatch (body) VALUES (?)', JSON.stringify({ type: 'delivery.v1', delivery_id: 'dlv_old' }));
        upgradeDispatchSchema(sql);
        upgradeDispatchSchema(sql);
        stageDeliveries(sql, 'tn_1', [
          ...Array.from({ length: 150 }, (_, n) => planned(n, 'normal')),
          planned(150, 'low'),
          planned(151, 'critical'),
          planned(152, 'high'),
        ]);
        const out: { lane: number; ids: string[] }[] = [];
        for (let b = pendingDispatch(sql, 100); b; b = pendingDispatch(sql, 100)) {
          out.push({ lane: b.lane, ids: b.rows.map((r) => (JSON.parse(r.body) as { delivery_id: string }).delivery_id) });
          dropDispatched(sql, b.lane, b.rows.at(-1)!.id);
        }
        return out;
      }),
    );
    expect(batches.map((b) => [b.lane, b.ids.length])).toEqual([
      [0, 1],
      [1, 1],
      [2, 100],
      [2, 51],
      [3, 1],
    ]);
    expect(batches[0]!.ids).toEqual(['dlv_151']);
    // the message staged before the upgrade goes out on the normal lane, first of it
    expect(batches[2]!.ids[0]).toBe('dlv_old');
  });

  it("releases an ordered line's deliveries with their event's received_at, so the consumer's claim reads one partition", async () => {
    const stub = testEnv.TENANT_LOG.getByName(`dispatch-ordered-${crypto.randomUUID()}`);
    const bodies = await runInDurableObject(stub, (_log, state) =>
      state.storage.transactionSync(() => {
        const sql = state.storage.sql;
        const line = (n: number, receivedAt?: number) => ({
          ...planned(n, 'normal'),
          ordered: true,
          partitionKey: 'k',
          ...(receivedAt === undefined ? {} : { receivedAt }),
        });
        // a line row written before the column existed has none: its message goes without it, and it goes
        // first (it is older than any row that has one, whatever the sequences say)
        sql.exec("INSERT INTO ordered_line (subscription_id, partition_key, sequence, delivery_id, priority) VALUES ('sub_1', 'k', 3, 'dlv_3', 'normal')");
        stageDeliveries(sql, 'tn_1', [line(1, 1_700_000_000_001), line(2, 1_700_000_000_002)]);
        const sent: Record<string, unknown>[] = [];
        for (const id of ['dlv_3', 'dlv_1', 'dlv_2']) {
          for (let b = pendingDispatch(sql, 100); b; b = pendingDispatch(sql, 100)) {
            sent.push(...b.rows.map((r) => JSON.parse(r.body) as Record<string, unknown>));
            dropDispatched(sql, b.lane, b.rows.at(-1)!.id);
          }
          finishOrdered(sql, 'tn_1', 'sub_1', 'k', id);
        }
        return sent;
      }),
    );
    expect(bodies.map((b) => [b.delivery_id, b.event_received_at])).toEqual([
      ['dlv_3', undefined],
      ['dlv_1', 1_700_000_000_001],
      ['dlv_2', 1_700_000_000_002],
    ]);
  });

  it('releases a line by its events received_at, not their sequences, which name shards', async () => {
    const stub = testEnv.TENANT_LOG.getByName(`dispatch-position-${crypto.randomUUID()}`);
    const order = await runInDurableObject(stub, (_log, state) =>
      state.storage.transactionSync(() => {
        const sql = state.storage.sql;
        // a key that moved from shard 2 to shard 0: its older event has the larger sequence
        const older = { ...planned(2 * 10 ** 13 + 1, 'normal'), id: 'dlv_older', ordered: true, partitionKey: 'k', receivedAt: 1_700_000_000_001 };
        const newer = { ...planned(1, 'normal'), id: 'dlv_newer', ordered: true, partitionKey: 'k', receivedAt: 1_700_000_000_002 };
        stageDeliveries(sql, 'tn_1', [newer, older]);
        const released: unknown[] = [];
        for (const id of ['dlv_older', 'dlv_newer']) {
          for (let b = pendingDispatch(sql, 100); b; b = pendingDispatch(sql, 100)) {
            released.push(...b.rows.map((r) => (JSON.parse(r.body) as { delivery_id: string }).delivery_id));
            dropDispatched(sql, b.lane, b.rows.at(-1)!.id);
          }
          finishOrdered(sql, 'tn_1', 'sub_1', 'k', id);
        }
        return released;
      }),
    );
    expect(order).toEqual(['dlv_older', 'dlv_newer']);
  });

  it('redrives with the received_at Postgres holds, and line rows without one keep it for their release', async () => {
    const stub = testEnv.TENANT_LOG.getByName(`dispatch-redrive-${crypto.randomUUID()}`);
    const { outcome, bodies } = await runInDurableObject(stub, (_log, state) =>
      state.storage.transactionSync(() => {
        const sql = state.storage.sql;
        const sent: Record<string, unknown>[] = [];
        const drain = () => {
          for (let b = pendingDispatch(sql, 100); b; b = pendingDispatch(sql, 100)) {
            sent.push(...b.rows.map((r) => JSON.parse(r.body) as Record<string, unknown>));
            dropDispatched(sql, b.lane, b.rows.at(-1)!.id);
          }
        };
        // lined up without their events' received_at (rows from before the column)
        stageDeliveries(
          sql,
          'tn_1',
          [1, 2].map((n) => ({ ...planned(n, 'normal'), ordered: true, partitionKey: 'k' })),
        );
        drain();
        sent.length = 0;
        const stranded = (id: string, partitionKey: string, receivedAt?: number) => ({
          id,
          subscriptionId: 'sub_1',
          partitionKey,
          priority: 'normal' as const,
          ...(receivedAt === undefined ? {} : { receivedAt }),
        });
        // the head in flight goes again as itself, the second waits behind it, one in no line goes unordered
        const outcome = redriveDeliveries(sql, 'tn_1', [
          stranded('dlv_1', 'k', 1_700_000_000_001),
          stranded('dlv_2', 'k', 1_700_000_000_002),
          stranded('dlv_9', '', 1_700_000_000_009),
        ]);
        drain();
        finishOrdered(sql, 'tn_1', 'sub_1', 'k', 'dlv_1');
        drain();
        // a redrive that does not know it sends what the line row holds
        redriveDeliveries(sql, 'tn_1', [stranded('dlv_2', 'k')]);
        drain();
        return { outcome, bodies: sent };
      }),
    );
    expect(outcome).toEqual({
      resent: 2,
      blockers: [{ id: 'dlv_1', subscriptionId: 'sub_1', partitionKey: 'k', priority: 'normal', receivedAt: 1_700_000_000_001 }],
    });
    expect(bodies.map((b) => [b.delivery_id, b.partition_key, b.event_received_at])).toEqual([
      ['dlv_1', 'k', 1_700_000_000_001],
      ['dlv_9', null, 1_700_000_000_009],
      ['dlv_2', 'k', 1_700_000_000_002],
      ['dlv_2', 'k', 1_700_000_000_002],
    ]);
  });
});
