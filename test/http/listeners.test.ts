import { createExecutionContext, createMessageBatch, getQueueResult } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import worker from '../../src/index';
import { MAX_LISTENER_ATTEMPTS } from '../../src/db/listeners';
import { newId } from '../../src/lib/ids';
import { ownerOf, shardOfSequence, slotOf } from '../../src/tenancy/shard-routing';
import { adminToken, api, call, createSource, createTenant, eventually, ingest, makeEvent, testEnv, type TestSource } from '../fixtures/api';
import { receiverPath, waitForRequests } from '../fixtures/receiver';

interface Listener {
  id: string;
  name: string;
  types: string[];
  where: unknown;
  secret?: string;
  last_sequence: number;
  cursor: string;
  created_at: string;
}
interface Delivery {
  id: string;
  subscription_id: string;
  event_id: string;
  event_sequence: number;
  status: string;
  attempts: number;
  last_status: number | null;
  last_error: string | null;
}
interface Attempt {
  attempt: number;
  outcome: string;
  status_code: number | null;
  latency_ms: number;
  error: string | null;
  response_body: string | null;
  started_at: string;
}

const listeners = (tenantId: string) => `/v1/tenants/${tenantId}/listeners`;

async function createListener(tenantId: string, body: Record<string, unknown> = {}): Promise<Listener> {
  const res = await api<Listener>('POST', listeners(tenantId), body);
  if (res.status !== 201) throw new Error(`listener: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

async function ingested(source: TestSource, overrides: Record<string, unknown> = {}): Promise<{ id: string; sequence: number }> {
  const res = await ingest(source, makeEvent(overrides));
  expect(res.status).toBe(202);
  return res.json<{ id: string; sequence: number }>();
}

function report(tenantId: string, listenerId: string, body: Record<string, unknown>, token?: string) {
  return api<{ delivery_id: string; attempt: number; status: string }>('POST', `${listeners(tenantId)}/${listenerId}/attempts`, body, token);
}

async function tenantToken(tenantId: string, scopes?: string[]): Promise<string> {
  const res = await api<{ token: string }>('POST', `/v1/tenants/${tenantId}/tokens`, scopes === undefined ? {} : { scopes });
  expect(res.status).toBe(201);
  return res.body.token;
}

describe('listeners', () => {
  it('creates a listener (201) and answers 200 with the same id and secret and the new filter when its name comes again', async () => {
    const tenantId = await createTenant();
    const created = await api<Listener>('POST', listeners(tenantId), { name: 'laptop', types: ['orders.*'] });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name: 'laptop', types: ['orders.*'], where: null, last_sequence: 0, cursor: '0' });
    expect(created.body.id).toMatch(/^sub_/);
    expect(created.body.secret).toMatch(/^whsec_/);

    const again = await api<Listener>('POST', listeners(tenantId), { name: 'laptop', types: ['payments.*'], where: { 'data.amount': { $gt: 10 } } });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ id: created.body.id, secret: created.body.secret, types: ['payments.*'], where: { 'data.amount': { $gt: 10 } } });

    const unnamed = await api<Listener>('POST', listeners(tenantId), {});
    expect(unnamed).toMatchObject({ status: 201, body: { name: 'cli', types: ['**'], where: null } });

    const list = await api<{ data: Listener[]; next_cursor: string | null }>('GET', listeners(tenantId));
    expect(list.status).toBe(200);
    expect(list.body.data.map((l) => l.id).sort()).toEqual([created.body.id, unnamed.body.id].sort());
    // the secret is shown to whoever creates the listener, never in a list
    for (const l of list.body.data) expect(l).not.toHaveProperty('secret');

    const subscriptions = await api<{ data: { id: string; action: unknown; types: string[] }[] }>('GET', `/v1/tenants/${tenantId}/subscriptions`);
    expect(subscriptions.body.data.find((s) => s.id === created.body.id)).toMatchObject({ action: { type: 'cli' }, types: ['payments.*'] });

    expect((await api('DELETE', `${listeners(tenantId)}/${created.body.id}`)).status).toBe(204);
    expect((await api<{ data: Listener[] }>('GET', listeners(tenantId))).body.data.map((l) => l.id)).toEqual([unnamed.body.id]);
    expect(await api('DELETE', `${listeners(tenantId)}/${created.body.id}`)).toMatchObject({ status: 404, body: { code: 'listener_not_found' } });

    const audit = await api<{ data: { action: string }[] }>('GET', `/v1/tenants/${tenantId}/audit-log?target=${created.body.id}`);
    expect(audit.body.data.map((e) => e.action)).toEqual(['listener.deleted', 'listener.updated', 'listener.created']);
  });

  it('records reported forwards as one delivery whose attempts count up and whose status is the latest outcome', async () => {
    const source = await createSource();
    const listener = await createListener(source.tenantId, { types: ['orders.*'] });
    const event = await ingested(source, { partitionkey: 'customer-7' });
    const base = { event_id: event.id, sequence: event.sequence, partition_key: 'customer-7' };

    const first = await report(source.tenantId, listener.id, { ...base, outcome: 'delivered', status_code: 200, latency_ms: 12, response_body: 'ok' });
    expect(first).toMatchObject({ status: 201, body: { attempt: 1, status: 'delivered' } });
    const longBody = 'x'.repeat(5000);
    const second = await report(source.tenantId, listener.id, {
      ...base,
      outcome: 'failed',
      status_code: 500,
      latency_ms: 30,
      error: 'local endpoint answered 500',
      response_body: longBody,
      started_at: '2026-01-02T03:04:05.000Z',
    });
    expect(second).toMatchObject({ status: 201, body: { delivery_id: first.body.delivery_id, attempt: 2, status: 'failed' } });
    const third = await report(source.tenantId, listener.id, { ...base, outcome: 'delivered', status_code: 204, latency_ms: 5 });
    expect(third).toMatchObject({ status: 201, body: { delivery_id: first.body.delivery_id, attempt: 3, status: 'delivered' } });

    const listed = await api<{ data: Delivery[] }>('GET', `/v1/tenants/${source.tenantId}/deliveries?subscription_id=${listener.id}`);
    expect(listed.body.data).toHaveLength(1);
    expect(listed.body.data[0]).toMatchObject({
      id: first.body.delivery_id,
      event_id: event.id,
      event_sequence: event.sequence,
      status: 'delivered',
      attempts: 3,
      last_status: 204,
      last_error: null,
    });

    const detail = await api<Delivery & { attempt_log: Attempt[] }>('GET', `/v1/tenants/${source.tenantId}/deliveries/${first.body.delivery_id}`);
    expect(detail.status).toBe(200);
    expect(detail.body.attempt_log.map((a) => [a.attempt, a.outcome, a.status_code, a.latency_ms])).toEqual([
      [1, 'delivered', 200, 12],
      [2, 'failed', 500, 30],
      [3, 'delivered', 204, 5],
    ]);
    const failed = detail.body.attempt_log[1]!;
    expect(failed.error).toBe('local endpoint answered 500');
    // truncated to the cap the queue consumer keeps of a receiver's answer
    expect(failed.response_body).toBe('x'.repeat(1024));
    expect(Date.parse(failed.started_at)).toBe(Date.parse('2026-01-02T03:04:05.000Z'));

    const again = await api<Listener>('POST', listeners(source.tenantId), { types: ['orders.*'] });
    expect(again).toMatchObject({ status: 200, body: { id: listener.id, last_sequence: event.sequence } });
  });

  it('accepts a report for an event Postgres does not have yet and raises last_sequence to the highest reported', async () => {
    const source = await createSource();
    const listener = await createListener(source.tenantId);
    // acknowledged by the TenantLog a moment ago: its flush to Postgres may not have happened
    const fresh = await ingested(source);
    expect(await report(source.tenantId, listener.id, { event_id: fresh.id, sequence: fresh.sequence, outcome: 'delivered', latency_ms: 1 })).toMatchObject({
      status: 201,
    });
    // an id the tenant's Postgres has never held stands for an event still on its way there
    const unflushed = newId('evt');
    expect((await api('GET', `/v1/tenants/${source.tenantId}/events/${unflushed}`)).status).toBe(404);
    const res = await report(source.tenantId, listener.id, { event_id: unflushed, sequence: fresh.sequence + 50, outcome: 'failed', latency_ms: 3 });
    expect(res).toMatchObject({ status: 201, body: { attempt: 1, status: 'failed' } });
    const delivery = await api<Delivery>('GET', `/v1/tenants/${source.tenantId}/deliveries/${res.body.delivery_id}`);
    expect(delivery.body).toMatchObject({ event_id: unflushed, event_sequence: fresh.sequence + 50, status: 'failed', attempts: 1 });

    // an older event reported later does not lower it
    await report(source.tenantId, listener.id, { event_id: newId('evt'), sequence: 1, outcome: 'delivered', latency_ms: 1 });
    const listed = await api<{ data: Listener[] }>('GET', listeners(source.tenantId));
    expect(listed.body.data[0]).toMatchObject({ last_sequence: fresh.sequence + 50, cursor: String(fresh.sequence + 50) });
  });

  it('keeps the last reported sequence per shard as the cursor a restarted listen resumes the stream exactly after', async () => {
    const tenantId = await createTenant('listener shards', { shards: 4 });
    const source = await createSource(tenantId);
    const keys: string[] = [];
    for (let i = 0; [0, 1, 2, 3].some((s) => keys.filter((k) => ownerOf(slotOf(k), 4) === s).length < 2); i++) {
      const key = `listener-${i}`;
      if (keys.filter((k) => ownerOf(slotOf(k), 4) === ownerOf(slotOf(key), 4)).length < 2) keys.push(key);
    }
    const sent: { id: string; sequence: number }[] = [];
    for (let n = 0; n < 3; n++) {
      const res = await ingest(
        source,
        keys.map((key) => makeEvent({ partitionkey: key, data: { n } })),
        'application/cloudevents-batch+json',
      );
      expect(res.status).toBe(202);
      sent.push(...(await res.json<{ results: { id: string; sequence: number }[] }>()).results);
    }
    const byShard = [0, 1, 2, 3].map((s) => sent.filter((e) => shardOfSequence(e.sequence) === s).sort((a, b) => a.sequence - b.sequence));
    expect(byShard.map((events) => events.length)).toEqual([6, 6, 6, 6]);

    // shard 3 all, shard 1 all but its last, shard 0 half, shard 2 nothing; higher shards first each turn
    const listener = await createListener(tenantId, { name: 'shards' });
    const upTo = [3, 5, 0, 6];
    for (let i = 0; i < 6; i++) {
      for (const shard of [3, 1, 0]) {
        const e = byShard[shard]![i];
        if (i < upTo[shard]! && e)
          expect((await report(tenantId, listener.id, { event_id: e.id, sequence: e.sequence, outcome: 'delivered', latency_ms: 1 })).status).toBe(201);
      }
    }
    // a retry of an earlier event of shard 0 does not move it back
    const early = byShard[0]![0]!;
    expect(await report(tenantId, listener.id, { event_id: early.id, sequence: early.sequence, outcome: 'failed', latency_ms: 1 })).toMatchObject({
      status: 201,
      body: { attempt: 2 },
    });

    const last = (shard: number) => byShard[shard]![upTo[shard]! - 1]!.sequence;
    const cursor = [last(0), last(1), last(3)].join(',');
    const restarted = await api<Listener>('POST', listeners(tenantId), { name: 'shards' });
    expect(restarted).toMatchObject({ status: 200, body: { id: listener.id, last_sequence: last(3), cursor } });
    expect((await api<{ data: Listener[] }>('GET', listeners(tenantId))).body.data[0]).toMatchObject({ cursor });

    // the stream from that cursor sends exactly what the listener has not reported (shard 2 from its beginning)
    const res = await call(`/v1/tenants/${tenantId}/events/stream?since_sequence=${cursor}`, {
      headers: { accept: 'text/event-stream', authorization: `Bearer ${await adminToken()}` },
    });
    expect(res.status).toBe(200);
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    // every stored event after the cursor comes before `ready`
    while (!text.includes('event: ready')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
    }
    await reader.cancel();
    const streamed = [...text.matchAll(/event: event\n(?:at: .*\n)?data: (.*)\n/g)].map((m) => (JSON.parse(m[1]!) as { event: { id: string } }).event.id);
    const unreported = byShard.flatMap((events, shard) => events.slice(upTo[shard]));
    expect(streamed.sort()).toEqual(unreported.map((e) => e.id).sort());
  });

  it('numbers concurrent reports without gaps or repeats and refuses one past the attempt limit', async () => {
    const tenantId = await createTenant();
    const listener = await createListener(tenantId);
    const attempt = { event_id: newId('evt'), sequence: 9, outcome: 'failed', latency_ms: 1 };
    const numbers: number[] = [];
    for (let round = 0; round < MAX_LISTENER_ATTEMPTS / 10; round++) {
      const results = await Promise.all(Array.from({ length: 10 }, () => report(tenantId, listener.id, attempt)));
      for (const res of results) {
        expect(res.status).toBe(201);
        numbers.push(res.body.attempt);
      }
    }
    expect(numbers.sort((a, b) => a - b)).toEqual(Array.from({ length: MAX_LISTENER_ATTEMPTS }, (_, i) => i + 1));
    expect(await report(tenantId, listener.id, attempt)).toMatchObject({ status: 409, body: { code: 'attempt_limit_reached' } });
  }, 60_000);

  it('never gets a delivery from the fan-out, a replay or the queue', async () => {
    const source = await createSource();
    const { path, url } = receiverPath();
    const webhook = await api<{ id: string }>('POST', `/v1/tenants/${source.tenantId}/subscriptions`, {
      types: ['orders.*'],
      action: { type: 'webhook', config: { url } },
    });
    const listener = await createListener(source.tenantId, { types: ['orders.*'] });
    const event = await ingested(source);

    // the webhook's delivery shows the event was flushed and fanned out (deliveries are stored with their events)
    await waitForRequests(path, 1);
    const fannedOut = await eventually(async () => {
      const res = await api<{ data: Delivery[] }>('GET', `/v1/tenants/${source.tenantId}/deliveries?event_id=${event.id}`);
      return res.body.data.length > 0 && res.body.data.every((d) => d.status === 'delivered') ? res.body.data : null;
    });
    expect(fannedOut.map((d) => d.subscription_id)).toEqual([webhook.body.id]);
    expect((await api<{ data: Delivery[] }>('GET', `/v1/tenants/${source.tenantId}/deliveries?subscription_id=${listener.id}`)).body.data).toEqual([]);

    // a replay of everything re-delivers to the webhook only
    const replay = await api<{ id: string }>('POST', `/v1/tenants/${source.tenantId}/replays`, {});
    expect(replay.status).toBe(202);
    const done = await eventually(async () => {
      const r = await api<{ status: string; deliveries: number }>('GET', `/v1/tenants/${source.tenantId}/replays/${replay.body.id}`);
      return r.body.status === 'completed' ? r.body : null;
    });
    expect(done.deliveries).toBe(1);
    expect((await api<{ data: Delivery[] }>('GET', `/v1/tenants/${source.tenantId}/deliveries?subscription_id=${listener.id}`)).body.data).toEqual([]);

    // the CLI's report; then a stray queue message for that delivery runs nothing
    const reported = await report(source.tenantId, listener.id, { event_id: event.id, sequence: event.sequence, outcome: 'failed', latency_ms: 2 });
    expect(reported.status).toBe(201);
    const body = { type: 'delivery.v1', tenant_id: source.tenantId, delivery_id: reported.body.delivery_id, subscription_id: listener.id, partition_key: null };
    const batch = createMessageBatch('switchyard-deliveries', [{ id: 'stray', timestamp: new Date(), attempts: 1, body }]);
    const ctx = createExecutionContext();
    await worker.queue(batch, testEnv, ctx);
    expect((await getQueueResult(batch, ctx)).explicitAcks).toEqual(['stray']);
    const after = await api<Delivery & { attempt_log: Attempt[] }>('GET', `/v1/tenants/${source.tenantId}/deliveries/${reported.body.delivery_id}`);
    // never pending, so neither the consumer's claim nor the redrive sweep (pending rows only) takes it
    expect(after.body).toMatchObject({ status: 'failed', attempts: 1 });
    expect(after.body.attempt_log).toHaveLength(1);
  });

  it('needs the subscriptions scope and hides other tenants', async () => {
    const tenantId = await createTenant();
    const listener = await createListener(tenantId);
    const attempt = { event_id: newId('evt'), sequence: 1, outcome: 'delivered', latency_ms: 1 };

    const reader = await tenantToken(tenantId, ['subscriptions:read']);
    expect((await api('GET', listeners(tenantId), undefined, reader)).status).toBe(200);
    expect(await api('POST', listeners(tenantId), {}, reader)).toMatchObject({ status: 403, body: { code: 'insufficient_scope' } });
    const other = await tenantToken(tenantId, ['events:read', 'deliveries:write']);
    expect(await report(tenantId, listener.id, attempt, other)).toMatchObject({ status: 403, body: { code: 'insufficient_scope' } });
    expect(await api('DELETE', `${listeners(tenantId)}/${listener.id}`, undefined, other)).toMatchObject({ status: 403 });
    const writer = await tenantToken(tenantId, ['subscriptions:write']);
    expect((await report(tenantId, listener.id, attempt, writer)).status).toBe(201);

    const strangerTenant = await createTenant();
    const stranger = await tenantToken(strangerTenant);
    for (const res of [
      await api('GET', listeners(tenantId), undefined, stranger),
      await api('POST', listeners(tenantId), {}, stranger),
      await report(tenantId, listener.id, attempt, stranger),
      await api('DELETE', `${listeners(tenantId)}/${listener.id}`, undefined, stranger),
    ]) {
      expect(res).toMatchObject({ status: 404, body: { code: 'tenant_not_found' } });
    }
    // another tenant's listener id under one's own tenant names nothing
    expect(await report(strangerTenant, listener.id, attempt, stranger)).toMatchObject({ status: 404, body: { code: 'listener_not_found' } });
    expect(await api('DELETE', `${listeners(strangerTenant)}/${listener.id}`, undefined, stranger)).toMatchObject({ status: 404 });
    expect((await api<{ data: Listener[] }>('GET', listeners(tenantId))).body.data).toHaveLength(1);
  });

  it('refuses invalid bodies with 422 naming the field', async () => {
    const tenantId = await createTenant();
    const listener = await createListener(tenantId);
    const valid = { event_id: newId('evt'), sequence: 1, outcome: 'delivered', latency_ms: 1 };
    const cases: [string, string, Record<string, unknown>, string, string][] = [
      ['POST', listeners(tenantId), { name: 'cli', forward_to: 'http://localhost:3000' }, 'validation_failed', '/forward_to'],
      ['POST', listeners(tenantId), { name: 'n'.repeat(65) }, 'validation_failed', '/name'],
      ['POST', listeners(tenantId), { name: '' }, 'validation_failed', '/name'],
      ['POST', listeners(tenantId), { types: ['orders..x'] }, 'validation_failed', '/types/0'],
      ['POST', listeners(tenantId), { where: { 'data.a': { $regex: 'x' } } }, 'invalid_filter', '/where/data.a/$regex'],
      ['POST', `${listeners(tenantId)}/${listener.id}/attempts`, { ...valid, retry: true }, 'validation_failed', '/retry'],
      ['POST', `${listeners(tenantId)}/${listener.id}/attempts`, { ...valid, outcome: 'skipped' }, 'validation_failed', '/outcome'],
      ['POST', `${listeners(tenantId)}/${listener.id}/attempts`, { ...valid, latency_ms: -1 }, 'validation_failed', '/latency_ms'],
      ['POST', `${listeners(tenantId)}/${listener.id}/attempts`, { ...valid, sequence: 0 }, 'validation_failed', '/sequence'],
      ['POST', `${listeners(tenantId)}/${listener.id}/attempts`, { ...valid, event_id: 'ev-1' }, 'validation_failed', '/event_id'],
      ['POST', `${listeners(tenantId)}/${listener.id}/attempts`, { ...valid, status_code: 42 }, 'validation_failed', '/status_code'],
      ['POST', `${listeners(tenantId)}/${listener.id}/attempts`, { ...valid, started_at: 'yesterday' }, 'validation_failed', '/started_at'],
    ];
    for (const [method, path, body, code, pointer] of cases) {
      const res = await api<{ code: string; errors: { pointer: string }[] }>(method, path, body);
      const label = `${JSON.stringify(body)}`;
      expect(res.status, label).toBe(422);
      expect(res.body.code, label).toBe(code);
      expect(
        res.body.errors.map((e) => e.pointer),
        label,
      ).toContain(pointer);
    }
    expect(await report(tenantId, 'sub_nope', valid)).toMatchObject({ status: 404, body: { code: 'listener_not_found' } });
    expect((await api<{ data: Listener[] }>('GET', listeners(tenantId))).body.data).toHaveLength(1);
  });

  it('keeps listeners out of the subscription routes, replays and manual retries', async () => {
    const source = await createSource();
    const subs = `/v1/tenants/${source.tenantId}/subscriptions`;
    const created = await api('POST', subs, { types: ['**'], action: { type: 'cli', config: {} } });
    expect(created).toMatchObject({ status: 422, body: { code: 'listener_action_reserved', errors: [{ pointer: '/action/type' }] } });

    const { url } = receiverPath();
    const webhook = await api<{ id: string }>('POST', subs, { types: ['**'], action: { type: 'webhook', config: { url } } });
    expect(await api('PATCH', `${subs}/${webhook.body.id}`, { action: { type: 'cli' } })).toMatchObject({
      status: 422,
      body: { code: 'listener_action_reserved' },
    });

    const listener = await createListener(source.tenantId, { name: 'dev' });
    expect(await api('PATCH', `${subs}/${listener.id}`, { action: { type: 'webhook', config: { url } } })).toMatchObject({
      status: 422,
      body: { code: 'listener_field_fixed', errors: [{ pointer: '/action' }] },
    });
    expect(await api('PATCH', `${subs}/${listener.id}`, { name: 'other' })).toMatchObject({ status: 422, body: { code: 'listener_field_fixed' } });
    expect((await api<{ action: unknown }>('GET', `${subs}/${listener.id}`)).body.action).toEqual({ type: 'cli' });

    expect(await api('POST', `/v1/tenants/${source.tenantId}/replays`, { subscription_id: listener.id })).toMatchObject({
      status: 422,
      body: { code: 'listener_not_replayable', errors: [{ pointer: '/subscription_id' }] },
    });

    const reported = await report(source.tenantId, listener.id, { event_id: newId('evt'), sequence: 3, outcome: 'failed', latency_ms: 9 });
    const retryPath = `/v1/tenants/${source.tenantId}/deliveries/${reported.body.delivery_id}/retry`;
    expect(await api('POST', retryPath)).toMatchObject({ status: 409, body: { code: 'listener_delivery_not_retryable' } });
    // its deliveries outlive it, and still cannot be retried by the server
    expect((await api('DELETE', `${listeners(source.tenantId)}/${listener.id}`)).status).toBe(204);
    const kept = await api<Delivery>('GET', `/v1/tenants/${source.tenantId}/deliveries/${reported.body.delivery_id}`);
    expect(kept.body).toMatchObject({ status: 'failed', attempts: 1, subscription_id: listener.id });
    expect(await api('POST', retryPath)).toMatchObject({ status: 409, body: { code: 'subscription_deleted' } });
    expect((await api<Delivery>('GET', `/v1/tenants/${source.tenantId}/deliveries/${reported.body.delivery_id}`)).body.status).toBe('failed');
  });

  it('documents the listener routes in /openapi.json', async () => {
    const doc = (await api<{ paths: Record<string, Record<string, { security?: { bearer: string[] }[] }>> }>('GET', '/openapi.json')).body;
    expect(doc.paths['/v1/tenants/{tenantId}/listeners']?.post?.security).toEqual([{ bearer: ['subscriptions:write'] }]);
    expect(doc.paths['/v1/tenants/{tenantId}/listeners']?.get?.security).toEqual([{ bearer: ['subscriptions:read'] }]);
    expect(doc.paths['/v1/tenants/{tenantId}/listeners/{listenerId}/attempts']?.post).toBeDefined();
    expect(doc.paths['/v1/tenants/{tenantId}/listeners/{listenerId}']?.delete).toBeDefined();
  });
});
