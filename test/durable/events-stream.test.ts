import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { MAX_LISTENERS } from '../../src/durable/stream-hub';
import { utf8 } from '../../src/lib/encoding';
import { adminToken, api, call, createSource, createTenant, eventually, ingest, makeEvent, testEnv, type TestSource } from '../fixtures/api';

type Accepted = { id: string; sequence: number; duplicate: boolean };
type EventFrame = { type: 'event'; sequence: number; event: Record<string, unknown> };
type ReadyFrame = { type: 'ready'; head: number };
type Frame = EventFrame | ReadyFrame;

const BATCH = 'application/cloudevents-batch+json';
const EVENT_PREFIX = (sequence: number) => `{"type":"event","sequence":${sequence},"event":`;

/** A WebSocket listener that records every frame (raw text too) and its close. */
interface Listener {
  frames: Frame[];
  raw: string[];
  closed: Promise<{ code: number; reason: string }>;
  /** Waits until `check` holds over the frames received so far. */
  until(check: (frames: Frame[]) => boolean, timeoutMs?: number): Promise<Frame[]>;
  events(): EventFrame[];
  /** Sends `ping` and waits for the `pong`. */
  ping(): Promise<void>;
  close(): void;
}

async function openStream(tenantId: string, query = '', token?: string): Promise<Listener> {
  const res = await call(`/v1/tenants/${tenantId}/events/stream${query}`, {
    headers: { upgrade: 'websocket', authorization: `Bearer ${token ?? (await adminToken())}` },
  });
  if (res.status !== 101) throw new Error(`expected 101, got ${res.status}: ${await res.text()}`);
  const ws = res.webSocket!;
  ws.accept();
  const frames: Frame[] = [];
  const raw: string[] = [];
  const pongs: string[] = [];
  ws.addEventListener('message', (e) => {
    if (e.data === 'pong') return void pongs.push(e.data);
    raw.push(e.data as string);
    frames.push(JSON.parse(e.data as string) as Frame);
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.addEventListener('close', (e) => resolve({ code: e.code, reason: e.reason })));
  return {
    frames,
    raw,
    closed,
    until: (check, timeoutMs = 15_000) => eventually(async () => check(frames) && frames, timeoutMs, 20),
    events: () => frames.filter((f): f is EventFrame => f.type === 'event'),
    ping: async () => {
      const before = pongs.length;
      ws.send('ping');
      await eventually(async () => pongs.length > before);
    },
    close: () => ws.close(1000, 'done'),
  };
}

const ready = (frames: Frame[]) => frames.some((f) => f.type === 'ready');

async function send(source: TestSource, events: Record<string, unknown>[]): Promise<Accepted[]> {
  const res = await ingest(source, events, BATCH);
  expect(res.status).toBe(202);
  return ((await res.json()) as { results: Accepted[] }).results;
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('live event stream over a WebSocket', () => {
  it('pushes acknowledged events in sequence order, each exactly as GET /events/{id} returns it', async () => {
    const source = await createSource();
    const listener = await openStream(source.tenantId);
    await listener.until(ready);
    expect(listener.frames[0]).toEqual({ type: 'ready', head: 0 });
    // keys in an order jsonb changes, integer-like and non-ASCII keys, nesting: the live form must still be Postgres's
    const odd = makeEvent({ subject: 's', zeta: 'z', data: { zz: 1, a: { y: [{ b: 1, a: 2 }], x: 'é' }, '10': 'ten', '2': 'two', é: 1, e: 2, ée: 3, 𝒳: 4 } });
    const first = await (await ingest(source, odd)).json<Accepted>();
    const rest = await send(
      source,
      range(1, 9).map((n) => makeEvent({ data: { n } })),
    );
    const sequences = [first.sequence, ...rest.map((r) => r.sequence)];
    await listener.until((f) => f.filter((x) => x.type === 'event').length >= 10);
    expect(listener.events().map((e) => e.sequence)).toEqual(sequences);
    expect(listener.events().map((e) => e.event.id)).toEqual([first.id, ...rest.map((r) => r.id)]);
    // byte for byte: the frame's event text is the API's body once the event reached Postgres
    const frame = listener.raw.find((r) => r.startsWith(EVENT_PREFIX(first.sequence)))!;
    const stored = await eventually(async () => {
      const res = await call(`/v1/tenants/${source.tenantId}/events/${first.id}`, { headers: { authorization: `Bearer ${await adminToken()}` } });
      return res.status === 200 && res.text();
    });
    expect(frame.slice(EVENT_PREFIX(first.sequence).length, -1)).toBe(stored);
    expect(listener.events()[0]!.event).toMatchObject({ ce_id: odd.id, sequence: first.sequence, source_id: source.sourceId });
    // the client's keep-alive: answered by the runtime, not recorded as a frame
    await listener.ping();
    listener.close();
  });

  it('sends only the events its types and where select, and no system events to **', async () => {
    const source = await createSource();
    const where = encodeURIComponent(JSON.stringify({ 'data.amount': { $gt: 100 } }));
    const filtered = await openStream(source.tenantId, `?types=orders.*,refunds.**&where=${where}`);
    const everything = await openStream(source.tenantId);
    await Promise.all([filtered.until(ready), everything.until(ready)]);
    const results = await send(source, [
      makeEvent({ type: 'orders.created', data: { amount: 50 } }),
      makeEvent({ type: 'orders.created', data: { amount: 150 } }),
      makeEvent({ type: 'payments.failed', data: { amount: 500 } }),
      makeEvent({ type: 'refunds.issued.eu', data: { amount: 101 } }),
      makeEvent({ type: 'orders.created.eu', data: { amount: 900 } }),
    ]);
    await everything.until((f) => f.filter((x) => x.type === 'event').length >= 5);
    await filtered.until((f) => f.filter((x) => x.type === 'event').length >= 2);
    expect(filtered.events().map((e) => e.sequence)).toEqual([results[1]!.sequence, results[3]!.sequence]);
    expect(everything.events().map((e) => e.sequence)).toEqual(results.map((r) => r.sequence));
    filtered.close();
    everything.close();
  });

  it('resumes from since_sequence with the backlog then live events, without gap or duplicate, while events keep arriving', async () => {
    const source = await createSource();
    const before = await send(
      source,
      range(1, 40).map((n) => makeEvent({ data: { n } })),
    );
    // the first ones reach Postgres (the outbox drops them), so the backlog reads both stores
    await eventually(async () => (await testEnv.TENANT_LOG.getByName(source.tenantId).status()).outboxDepth === 0);
    await send(
      source,
      range(41, 60).map((n) => makeEvent({ data: { n } })),
    );
    let stop = false;
    const sent: number[] = [...before.map((r) => r.sequence)];
    const producing = (async () => {
      for (let i = 0; !stop && i < 200; i++) {
        const results = await send(
          source,
          range(1, 5).map((n) => makeEvent({ data: { n, i } })),
        );
        sent.push(...results.map((r) => r.sequence));
      }
    })();
    const listener = await openStream(source.tenantId, `?since_sequence=${before[9]!.sequence}`);
    await listener.until(ready);
    await new Promise((r) => setTimeout(r, 300));
    stop = true;
    await producing;
    const last = (await testEnv.TENANT_LOG.getByName(source.tenantId).status()).lastSequence;
    await listener.until((f) => f.some((x) => x.type === 'event' && x.sequence === last));
    const got = listener.events().map((e) => e.sequence);
    expect(got).toEqual(range(before[9]!.sequence + 1, last));
    const readyAt = listener.frames.findIndex((f) => f.type === 'ready');
    const head = (listener.frames[readyAt] as ReadyFrame).head;
    expect(listener.frames.slice(0, readyAt).every((f) => f.type === 'event' && f.sequence <= head)).toBe(true);
    expect(listener.frames.filter((f) => f.type === 'ready')).toHaveLength(1);
    listener.close();
  });

  it('pages a long backlog from Postgres and the outbox in order', async () => {
    const source = await createSource();
    for (let b = 0; b < 3; b++)
      await send(
        source,
        range(1, 400).map((n) => makeEvent({ data: { n, b } })),
      );
    await eventually(async () => (await testEnv.TENANT_LOG.getByName(source.tenantId).status()).outboxDepth === 0);
    await send(
      source,
      range(1, 300).map((n) => makeEvent({ data: { n } })),
    );
    const listener = await openStream(source.tenantId, '?since_sequence=0');
    await listener.until(ready, 30_000);
    expect(listener.events().map((e) => e.sequence)).toEqual(range(1, 1500));
    expect(listener.frames.at(-1)).toEqual({ type: 'ready', head: 1500 });
    listener.close();
  });
});

describe('live event stream: access and validation', () => {
  it('authenticates like the events API: 401 without a token, 404 for another tenant, 403 without events:read', async () => {
    const tenant = await createTenant();
    const other = await createTenant();
    const path = `/v1/tenants/${tenant}/events/stream`;
    expect((await call(path, { headers: { upgrade: 'websocket' } })).status).toBe(401);
    const mint = async (t: string, scopes?: string[]) => (await api<{ token: string }>('POST', `/v1/tenants/${t}/tokens`, scopes ? { scopes } : {})).body.token;
    const foreign = await call(path, { headers: { upgrade: 'websocket', authorization: `Bearer ${await mint(other)}` } });
    expect(foreign.status).toBe(404);
    expect(await foreign.json()).toMatchObject({ code: 'tenant_not_found' });
    const narrow = await call(path, { headers: { upgrade: 'websocket', authorization: `Bearer ${await mint(tenant, ['sources:read'])}` } });
    expect(narrow.status).toBe(403);
    expect(await narrow.json()).toMatchObject({ code: 'insufficient_scope' });
    const reader = await openStream(tenant, '', await mint(tenant, ['events:read']));
    await reader.until(ready);
    reader.close();
  });

  it('refuses a listener past the per-tenant limit with 409 limit_reached, and takes one again once another closed', async () => {
    const tenant = await createTenant();
    const open: Listener[] = [];
    const token = await adminToken();
    for (let i = 0; i < MAX_LISTENERS; i += 20) open.push(...(await Promise.all(range(1, 20).map(() => openStream(tenant, '', token)))));
    const refused = await call(`/v1/tenants/${tenant}/events/stream`, { headers: { upgrade: 'websocket', authorization: `Bearer ${await adminToken()}` } });
    expect(refused.status).toBe(409);
    expect(await refused.json()).toMatchObject({ code: 'limit_reached' });
    open.pop()!.close();
    const again = await eventually(async () => {
      const res = await call(`/v1/tenants/${tenant}/events/stream`, { headers: { upgrade: 'websocket', authorization: `Bearer ${await adminToken()}` } });
      if (res.status === 101) res.webSocket!.accept();
      return res.status === 101 ? res.webSocket! : null;
    });
    again.close(1000);
    for (const l of open) l.close();
  }, 60_000);

  it('refuses a bad query with the codes subscriptions use, and a request that is neither WebSocket nor SSE with 426', async () => {
    const tenant = await createTenant();
    const token = await adminToken();
    const status = async (query: string, headers: Record<string, string> = { upgrade: 'websocket' }) => {
      const res = await call(`/v1/tenants/${tenant}/events/stream${query}`, { headers: { ...headers, authorization: `Bearer ${token}` } });
      const body = res.status === 101 ? null : ((await res.json()) as { code: string; errors?: { pointer: string }[] });
      return { status: res.status, code: body?.code, pointer: body?.errors?.[0]?.pointer };
    };
    const where = (w: string) => `?where=${encodeURIComponent(w)}`;
    expect(await status('?types=orders..created')).toEqual({ status: 422, code: 'validation_failed', pointer: '/types/0' });
    expect(await status(`?types=${Array(51).fill('a').join(',')}`)).toMatchObject({ status: 422, code: 'validation_failed' });
    expect(await status(where('{nope'))).toEqual({ status: 422, code: 'invalid_filter', pointer: '/where' });
    expect(await status(where('{"data.x":{"$regex":"a"}}'))).toEqual({ status: 422, code: 'invalid_filter', pointer: '/where/data.x/$regex' });
    expect(await status(where('{"__proto__":{"a":1}}'))).toEqual({ status: 422, code: 'forbidden_key', pointer: '/where/__proto__' });
    expect(await status(where(JSON.stringify({ 'data.id': { $in: range(1, 5000).map((n) => `id-${n}`) } })))).toMatchObject({
      status: 422,
      code: 'filter_too_large',
    });
    expect(await status('?since_sequence=-1')).toEqual({ status: 422, code: 'validation_failed', pointer: '/since_sequence' });
    expect(await status('', { accept: 'text/event-stream', 'last-event-id': 'x' })).toEqual({
      status: 422,
      code: 'validation_failed',
      pointer: '/last-event-id',
    });
    expect(await status('', {})).toMatchObject({ status: 426, code: 'upgrade_required' });
  });
});

describe('live event stream: closing', () => {
  it('closes a listener that falls behind with 4008 slow_consumer, while ingest keeps answering 202', async () => {
    const source = await createSource();
    const slow = await openStream(source.tenantId);
    await slow.until(ready);
    const padding = 'x'.repeat(8_000);
    let closedWith: { code: number; reason: string } | null = null;
    void slow.closed.then((c) => (closedWith = c));
    const statuses: number[] = [];
    // ~800 KB per batch against a 4 MiB budget draining 1 MiB/s: bounded, and it ends as soon as the listener is dropped
    for (let b = 0; b < 40 && closedWith === null; b++) {
      const res = await ingest(
        source,
        range(1, 100).map((n) => makeEvent({ data: { n, padding } })),
        BATCH,
      );
      statuses.push(res.status);
      await res.arrayBuffer();
    }
    expect(await slow.closed).toEqual({ code: 4008, reason: 'slow_consumer' });
    expect(statuses.every((s) => s === 202)).toBe(true);
    expect((await ingest(source, makeEvent())).status).toBe(202);
  }, 60_000);

  it('closes with 4401 token_expired once the token expires while connected', async () => {
    const source = await createSource();
    const token = await new SignJWT({ scope: 'tenant', tenant: source.tenantId })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + 4)
      .sign(utf8(testEnv.ADMIN_JWT_SECRET));
    const listener = await openStream(source.tenantId, '', token);
    await listener.until(ready);
    expect(await listener.closed).toEqual({ code: 4401, reason: 'token_expired' });
  });

  it('closes with 4410 tenant_deleted when the tenant is deleted', async () => {
    const source = await createSource();
    await ingest(source, makeEvent());
    const listener = await openStream(source.tenantId);
    await listener.until(ready);
    expect((await api('DELETE', `/v1/tenants/${source.tenantId}`)).status).toBe(204);
    expect(await listener.closed).toEqual({ code: 4410, reason: 'tenant_deleted' });
  });
});

describe('live event stream over Server-Sent Events', () => {
  /** Reads SSE frames (blocks of lines) from a response body. */
  function frames(res: Response) {
    const reader = res.body!.getReader();
    // a stream the server broke off rejects `closed` too; next() reports it
    reader.closed.catch(() => {});
    const decoder = new TextDecoder();
    let buffer = '';
    return {
      async next(): Promise<Record<string, string>> {
        for (;;) {
          const end = buffer.indexOf('\n\n');
          if (end >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            if (block.startsWith(':')) continue;
            return Object.fromEntries(block.split('\n').map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 2)]));
          }
          const { value, done } = await reader.read();
          if (done) throw new Error('stream ended');
          buffer += decoder.decode(value, { stream: true });
        }
      },
      cancel: () => reader.cancel(),
    };
  }

  it('drops an SSE client that stops reading once its queue passes the limit, while ingest keeps answering 202', async () => {
    const source = await createSource();
    const res = await call(`/v1/tenants/${source.tenantId}/events/stream`, {
      headers: { accept: 'text/event-stream', authorization: `Bearer ${await adminToken()}` },
    });
    const stream = frames(res);
    expect(await stream.next()).toMatchObject({ event: 'ready' });
    // nothing is read from here on: the queue grows until the server gives up on the client
    const padding = 'x'.repeat(8_000);
    let sent = 0;
    const statuses: number[] = [];
    for (let b = 0; b < 12; b++) {
      const res = await ingest(
        source,
        range(1, 100).map((n) => makeEvent({ data: { n, padding } })),
        BATCH,
      );
      statuses.push(res.status);
      sent += 100;
      await res.arrayBuffer();
    }
    expect(statuses.every((s) => s === 202)).toBe(true);
    let received = 0;
    const ended = await (async () => {
      try {
        for (;;) if ((await stream.next()).event === 'event') received++;
      } catch (error) {
        return String(error);
      }
    })();
    expect(ended).toBeTruthy();
    expect(received).toBeLessThan(sent);
  }, 60_000);

  it('honours Last-Event-ID: the events after it, ready, then live events', async () => {
    const source = await createSource();
    const results = await send(
      source,
      range(1, 5).map((n) => makeEvent({ data: { n } })),
    );
    const res = await call(`/v1/tenants/${source.tenantId}/events/stream`, {
      headers: { accept: 'text/event-stream', 'last-event-id': String(results[1]!.sequence), authorization: `Bearer ${await adminToken()}` },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const stream = frames(res);
    for (const r of results.slice(2)) {
      const frame = await stream.next();
      expect(frame).toMatchObject({ id: String(r.sequence), event: 'event' });
      expect(JSON.parse(frame.data!)).toMatchObject({ type: 'event', sequence: r.sequence, event: { id: r.id } });
    }
    expect(await stream.next()).toEqual({
      id: String(results[4]!.sequence),
      event: 'ready',
      data: JSON.stringify({ type: 'ready', head: results[4]!.sequence }),
    });
    const [live] = await send(source, [makeEvent()]);
    expect(await stream.next()).toMatchObject({ id: String(live!.sequence), event: 'event' });
    await stream.cancel();
  });
});
