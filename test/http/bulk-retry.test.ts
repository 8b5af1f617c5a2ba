import { runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { api, createSource, eventually, ingest, makeEvent, testEnv, withTestDb, type TestSource, subscribeWebhook } from '../fixtures/api';
import { behave, received, receiverPath, waitForRequests } from '../fixtures/receiver';
import { eventReceivedAt, recordingEnv } from '../fixtures/recording-queues';
import { insertRetry, runRetryPage, type RetriedDelivery, type RetryFilter } from '../../src/db/delivery-retries';
import { newId } from '../../src/lib/ids';
import { deliveryV1 } from '../../src/lib/queue-messages';
import { runRetryStep } from '../../src/queues/retry-step';

type Delivery = { id: string; status: string; attempts: number; subscription_id: string; next_attempt_at: string | null };
type Retry = { id: string; kind: string; status: string; matched: number; retried: number; skipped: number; filter: Record<string, unknown> };

const subscribe = async (source: TestSource, url: string, extra: Record<string, unknown> = {}): Promise<string> =>
  (await subscribeWebhook(source, url, extra)).id;

const deliveries = async (source: TestSource, query = '') =>
  (await api<{ data: Delivery[] }>('GET', `/v1/tenants/${source.tenantId}/deliveries?limit=100${query}`)).body.data;

/** A receiver that refuses everything until told otherwise, a subscription with no retries, and `n` failed deliveries. */
async function failedDeliveries(source: TestSource, n: number): Promise<{ path: string; subscriptionId: string }> {
  const { path, url } = receiverPath();
  await behave(path, { default: { status: 500 } });
  // a type of its own, so the tenant's other subscriptions do not get these events
  const type = `orders.t${crypto.randomUUID().slice(0, 8)}`;
  const subscriptionId = await subscribe(source, url, { types: [type], retry_schedule: [0] });
  await ingest(
    source,
    Array.from({ length: n }, (_, i) => makeEvent({ type, data: { n: i } })),
    'application/cloudevents-batch+json',
  );
  await eventually(async () => {
    const list = await deliveries(source, `&subscription_id=${subscriptionId}&status=failed`);
    return list.length === n;
  }, 15_000);
  return { path, subscriptionId };
}

/** Runs a new job's steps here, with `env` (the API would leave them to the queue consumer); its first step must finish it. */
async function runJob(env: Env, tenantId: string, filter: RetryFilter): Promise<void> {
  const job = await withTestDb((db) => insertRetry(db, newId('rty'), tenantId, 'retry', filter));
  expect(await runRetryStep(env, { type: 'retry.v1', tenant_id: tenantId, retry_id: job.id }, 1)).toEqual({ kind: 'done' });
}

const finished = (source: TestSource, id: string) =>
  eventually(async () => {
    const res = await api<Retry>('GET', `/v1/tenants/${source.tenantId}/deliveries/retry/${id}`);
    return res.body.status === 'completed' ? res.body : null;
  }, 15_000);

describe('bulk retry', () => {
  it('retries the failed deliveries of one subscription and reports progress to completed', async () => {
    const source = await createSource();
    const target = await failedDeliveries(source, 4);
    const bystander = await failedDeliveries(source, 2);
    const other = await createSource();
    const elsewhere = await failedDeliveries(other, 2);
    await behave(target.path, { default: { status: 200 } });
    await behave(bystander.path, { default: { status: 200 } });
    await behave(elsewhere.path, { default: { status: 200 } });

    const started = await api<Retry>('POST', `/v1/tenants/${source.tenantId}/deliveries/retry`, { subscription_id: target.subscriptionId });
    expect(started.status).toBe(202);
    expect(started.body).toMatchObject({ kind: 'retry', status: 'running', matched: 4, filter: { status: 'failed', subscription_id: target.subscriptionId } });
    expect(started.headers.get('location')).toBe(`/v1/tenants/${source.tenantId}/deliveries/retry/${started.body.id}`);

    expect(await finished(source, started.body.id)).toMatchObject({ status: 'completed', matched: 4, retried: 4, skipped: 0 });
    await waitForRequests(target.path, 8);
    const retried = await eventually(async () => {
      const list = await deliveries(source, `&subscription_id=${target.subscriptionId}`);
      return list.every((d) => d.status === 'delivered') ? list : null;
    });
    expect(retried.map((d) => d.attempts)).toEqual([2, 2, 2, 2]);
    // the other subscription and the other tenant were not touched
    expect((await deliveries(source, `&subscription_id=${bystander.subscriptionId}`)).map((d) => d.status)).toEqual(['failed', 'failed']);
    expect((await deliveries(other)).map((d) => d.status)).toEqual(['failed', 'failed']);
    expect(await received(bystander.path)).toHaveLength(2);
    expect(await received(elsewhere.path)).toHaveLength(2);
    const audit = await api<{ data: { action: string; target: string }[] }>('GET', `/v1/tenants/${source.tenantId}/audit-log?target=${started.body.id}`);
    expect(audit.body.data.map((e) => e.action)).toEqual(['delivery.bulk_retry_started']);
  }, 40_000);

  it('counts deliveries of deleted and disabled subscriptions, and of expired events, as skipped, with an empty body meaning every failed one', async () => {
    const source = await createSource();
    const kept = await failedDeliveries(source, 2);
    const deleted = await failedDeliveries(source, 1);
    const disabled = await failedDeliveries(source, 1);
    const expired = await failedDeliveries(source, 1);
    await behave(kept.path, { default: { status: 200 } });
    await behave(expired.path, { default: { status: 200 } });
    expect((await api('DELETE', `/v1/tenants/${source.tenantId}/subscriptions/${deleted.subscriptionId}`)).status).toBe(204);
    expect((await api('PATCH', `/v1/tenants/${source.tenantId}/subscriptions/${disabled.subscriptionId}`, { status: 'disabled' })).status).toBe(200);
    // retention removed this delivery's event (deliveries are kept by their own period)
    const [gone] = await deliveries(source, `&subscription_id=${expired.subscriptionId}`);
    await withTestDb((db) =>
      db.query('DELETE FROM events WHERE tenant_id = $1 AND id = (SELECT event_id FROM deliveries WHERE id = $2)', [source.tenantId, gone!.id]),
    );
    const single = await api<{ code: string }>('POST', `/v1/tenants/${source.tenantId}/deliveries/${gone!.id}/retry`);
    expect(single).toMatchObject({ status: 410, body: { code: 'event_expired' } });

    const started = await api<Retry>('POST', `/v1/tenants/${source.tenantId}/deliveries/retry`);
    expect(started).toMatchObject({ status: 202, body: { matched: 5, filter: { status: 'failed' } } });
    expect(await finished(source, started.body.id)).toMatchObject({ matched: 5, retried: 2, skipped: 3 });
    await waitForRequests(kept.path, 4);
    const statuses = Object.fromEntries((await deliveries(source)).map((d) => [d.subscription_id, d.status]));
    expect(statuses).toMatchObject({ [deleted.subscriptionId]: 'failed', [disabled.subscriptionId]: 'failed', [expired.subscriptionId]: 'failed' });
  }, 40_000);

  it('attempts pending deliveries now when asked for status pending, and only those created in the range', async () => {
    const source = await createSource();
    const { path, url } = receiverPath();
    await behave(path, { responses: [{ status: 500 }, { status: 500 }], default: { status: 200 } });
    // the next attempt is an hour away
    const subscriptionId = await subscribe(source, url, { retry_schedule: [0, 3600] });
    await ingest(source, [makeEvent(), makeEvent()], 'application/cloudevents-batch+json');
    await waitForRequests(path, 2);
    const waiting = await eventually(async () => {
      const list = await deliveries(source);
      return list.length === 2 && list.every((d) => d.status === 'pending' && d.attempts === 1 && d.next_attempt_at) ? list : null;
    });
    const future = new Date(Date.now() + 3_600_000).toISOString();
    const none = await api<Retry>('POST', `/v1/tenants/${source.tenantId}/deliveries/retry`, { status: 'pending', since: future });
    expect(none.body.matched).toBe(0);
    expect(await finished(source, none.body.id)).toMatchObject({ retried: 0, skipped: 0 });

    const started = await api<Retry>('POST', `/v1/tenants/${source.tenantId}/deliveries/retry`, { status: 'pending', subscription_id: subscriptionId });
    expect(started.body).toMatchObject({ matched: 2, filter: { status: 'pending' } });
    expect(await finished(source, started.body.id)).toMatchObject({ retried: 2, skipped: 0 });
    await waitForRequests(path, 4);
    const delivered = await eventually(async () => {
      const list = await deliveries(source);
      return list.every((d) => d.status === 'delivered') ? list : null;
    });
    expect(delivered.map((d) => d.id).sort()).toEqual(waiting.map((d) => d.id).sort());
  }, 40_000);

  it("sends each retried delivery with its event's received_at, and the consumer claims it from that partition and delivers it", async () => {
    const source = await createSource();
    const target = await failedDeliveries(source, 3);
    await behave(target.path, { default: { status: 200 } });
    const failed = await deliveries(source, `&subscription_id=${target.subscriptionId}`);
    const expected = await eventReceivedAt(failed.map((d) => d.id));
    expect(expected.size).toBe(3);

    const { env, sent } = recordingEnv();
    await runJob(env, source.tenantId, { status: 'failed', subscription_id: target.subscriptionId });
    const bodies = sent.map((s) => s.body);
    expect(bodies.every((b) => deliveryV1.safeParse(b).success)).toBe(true);
    expect(new Map(bodies.map((b) => [b.delivery_id, b.event_received_at]))).toEqual(expected);
    // the claim is bounded by that span: had it missed, they would not be delivered
    await waitForRequests(target.path, 6);
    await eventually(async () => (await deliveries(source, `&subscription_id=${target.subscriptionId}`)).every((d) => d.status === 'delivered'));
  }, 40_000);

  it("redrives pending ordered deliveries through their line with their events' received_at, which line rows without it take", async () => {
    const source = await createSource();
    const { path, url } = receiverPath();
    // every attempt fails and the next is an hour away: the line keeps its head in flight and the second waiting
    await behave(path, { default: { status: 500 } });
    const subscriptionId = await subscribe(source, url, { ordering: 'partition', retry_schedule: [0, 3600, 3600] });
    await ingest(source, [makeEvent({ partitionkey: 'k' }), makeEvent({ partitionkey: 'k' })], 'application/cloudevents-batch+json');
    await waitForRequests(path, 1);
    const line = await eventually(async () => {
      const list = await deliveries(source, `&subscription_id=${subscriptionId}`);
      return list.length === 2 && list.some((d) => d.attempts === 1 && d.next_attempt_at) ? list : null;
    });
    // as rows lined up before the column was added are
    const log = testEnv.TENANT_LOG.getByName(source.tenantId);
    const lineRows = () =>
      runInDurableObject(log, (_log, state) =>
        state.storage.sql.exec<{ delivery_id: string; received_at: number | null }>('SELECT delivery_id, received_at FROM ordered_line').toArray(),
      );
    await runInDurableObject(log, (_log, state) => state.storage.sql.exec('UPDATE ordered_line SET received_at = NULL'));

    await runJob(testEnv, source.tenantId, { status: 'pending', subscription_id: subscriptionId });
    // the head went out again as itself, and its line rows now hold their events' received_at for their releases
    await waitForRequests(path, 2);
    const rows = await lineRows();
    expect(new Map(rows.map((r) => [r.delivery_id, r.received_at]))).toEqual(await eventReceivedAt(line.map((d) => d.id)));
    expect(await received(path)).toHaveLength(2);
  }, 40_000);

  it('refuses invalid filters with 422 and unknown jobs with 404', async () => {
    const source = await createSource();
    const base = `/v1/tenants/${source.tenantId}/deliveries/retry`;
    const now = Date.now();
    const cases: [unknown, string, string][] = [
      [{ status: 'delivered' }, 'validation_failed', '/status'],
      [{ since: 'yesterday' }, 'validation_failed', '/since'],
      [{ since: new Date(now).toISOString(), until: new Date(now - 1000).toISOString() }, 'validation_failed', '/until'],
      [{ subscription_id: 'sub_01JD9Y3W8N5R2T6V4X7Z0A1B2C' }, 'subscription_not_found', '/subscription_id'],
      [{ limit: 5 }, 'validation_failed', '/limit'],
    ];
    for (const [body, code, pointer] of cases) {
      const res = await api<{ code: string; errors: { pointer: string }[] }>('POST', base, body);
      expect(res.status, JSON.stringify(body)).toBe(422);
      expect(res.body.code, JSON.stringify(body)).toBe(code);
      expect(res.body.errors.map((e) => e.pointer)).toContain(pointer);
    }
    const listener = await api<{ id: string }>('POST', `/v1/tenants/${source.tenantId}/listeners`, { name: 'laptop' });
    expect(await api('POST', base, { subscription_id: listener.body.id })).toMatchObject({ status: 422, body: { code: 'listener_delivery_not_retryable' } });
    expect(await api('GET', `${base}/rty_01JD9Y3W8N5R2T6V4X7Z0A1B2C`)).toMatchObject({ status: 404, body: { code: 'retry_not_found' } });
    expect(await api('GET', `${base}/not-an-id`)).toMatchObject({ status: 404, body: { code: 'retry_not_found' } });
  });

  it('needs deliveries:write to start and deliveries:read to watch, and never shows another tenant its jobs', async () => {
    const source = await createSource();
    const other = await createSource();
    const base = `/v1/tenants/${source.tenantId}/deliveries/retry`;
    const token = async (tenantId: string, scopes?: string[]) =>
      (await api<{ token: string }>('POST', `/v1/tenants/${tenantId}/tokens`, scopes ? { scopes } : {})).body.token;
    const reader = await token(source.tenantId, ['deliveries:read']);
    expect(await api('POST', base, {}, reader)).toMatchObject({ status: 403, body: { code: 'insufficient_scope' } });
    const writer = await token(source.tenantId, ['deliveries:write']);
    const started = await api<Retry>('POST', base, {}, writer);
    expect(started.status).toBe(202);
    expect((await api('GET', `${base}/${started.body.id}`, undefined, reader)).status).toBe(200);
    const stranger = await token(other.tenantId);
    expect(await api('GET', `${base}/${started.body.id}`, undefined, stranger)).toMatchObject({ status: 404, body: { code: 'tenant_not_found' } });
    expect(await api('GET', `/v1/tenants/${other.tenantId}/deliveries/retry/${started.body.id}`, undefined, stranger)).toMatchObject({
      status: 404,
      body: { code: 'retry_not_found' },
    });
  });

  it('runs at most five bulk retries of a tenant at once', async () => {
    const source = await createSource();
    // jobs that cannot finish yet: the queue consumer is not told about them
    await withTestDb((db) =>
      db.query(
        `INSERT INTO delivery_retries (id, tenant_id, filter) SELECT 'rty_' || lpad(g::text, 26, '0'), $1, '{"status":"failed"}' FROM generate_series(1, 5) g`,
        [source.tenantId],
      ),
    );
    expect(await api('POST', `/v1/tenants/${source.tenantId}/deliveries/retry`, {})).toMatchObject({ status: 409, body: { code: 'limit_reached' } });
  });

  it('works a job off in bounded pages, each delivery once, when many share one creation time', async () => {
    const source = await createSource();
    const subscriptionId = await subscribe(source, receiverPath().url);
    const ids = Array.from({ length: 5 }, () => newId('dlv'));
    const jobId = await withTestDb(async (db) => {
      // their event, still within retention (a delivery whose event expired is skipped)
      await db.query(
        `INSERT INTO events (tenant_id, sequence, id, source_id, ce_id, ce_source, type, event, sha256, received_at)
         VALUES ($1, 1, 'evt_x', $2, 'x', 'test', 'orders.created', '{}', '', now())`,
        [source.tenantId, source.sourceId],
      );
      await db.query(
        `INSERT INTO deliveries (id, tenant_id, subscription_id, event_id, event_sequence, status, attempts, created_at, finished_at)
         SELECT id, $2, $3, 'evt_x', 1, 'failed', 3, '2026-01-01T00:00:00Z', now() FROM unnest($1::text[]) AS id`,
        [ids, source.tenantId, subscriptionId],
      );
      const job = await insertRetry(db, newId('rty'), source.tenantId, 'retry', { status: 'failed', subscription_id: subscriptionId });
      expect(job.matched).toBe(5);
      const sent: RetriedDelivery[] = [];
      const pages: boolean[] = [];
      for (let step = await runRetryPage(db, source.tenantId, job.id, 2); step.kind === 'advanced'; step = await runRetryPage(db, source.tenantId, job.id, 2)) {
        sent.push(...step.retried);
        pages.push(step.done);
      }
      expect(pages).toEqual([false, false, true]);
      expect(sent.map((d) => d.id).sort()).toEqual([...ids].sort());
      const rows = await db.query<{ status: string; schedule_offset: number }>('SELECT status, schedule_offset FROM deliveries WHERE id = ANY($1)', [ids]);
      expect(rows.rows).toEqual(Array(5).fill({ status: 'pending', schedule_offset: 3 }));
      return job.id;
    });
    const job = await api<Retry>('GET', `/v1/tenants/${source.tenantId}/deliveries/retry/${jobId}`);
    expect(job.body).toMatchObject({ status: 'completed', matched: 5, retried: 5, skipped: 0 });
  });
});
