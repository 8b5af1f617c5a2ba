/**
 * The backlog of a resuming listener when part of it has not reached Postgres yet: the TenantLog's
 * outbox holds it while Postgres is unreachable (this file pauses the database link, so it runs alone).
 */
import { describe, expect, it } from 'vitest';
import { adminToken, call, control, createSource, eventually, ingest, makeEvent, testEnv } from '../fixtures/api';

type Frame = { type: 'event'; sequence: number; event: { id: string } } | { type: 'ready'; head: number };
type Accepted = { id: string; sequence: number };

async function listen(tenantId: string, since: number) {
  const res = await call(`/v1/tenants/${tenantId}/events/stream?since_sequence=${since}`, {
    headers: { upgrade: 'websocket', authorization: `Bearer ${await adminToken()}` },
  });
  expect(res.status).toBe(101);
  const ws = res.webSocket!;
  ws.accept();
  const frames: Frame[] = [];
  ws.addEventListener('message', (e) => frames.push(JSON.parse(e.data as string) as Frame));
  return { frames, ws, ready: () => eventually(async () => frames.some((f) => f.type === 'ready') && frames) };
}

describe('live stream backlog from the outbox', () => {
  it('sends a backlog still in the outbox, and one that spans Postgres and the outbox, in order', async () => {
    const source = await createSource();
    const stub = testEnv.TENANT_LOG.getByName(source.tenantId);
    const flushed: Accepted[] = [];
    for (let i = 0; i < 20; i++) flushed.push(await (await ingest(source, makeEvent({ data: { i } }))).json<Accepted>());
    await eventually(async () => (await stub.status()).outboxDepth === 0);
    const waiting: Accepted[] = [];
    await control('/proxy/pause');
    try {
      for (let i = 0; i < 30; i++) waiting.push(await (await ingest(source, makeEvent({ data: { i } }))).json<Accepted>());
      // two failed flushes: the next try is 1.6-2.4 s away, so the rows stay in the outbox a while after the link is back
      await eventually(async () => (await stub.status()).flushFailures >= 2);
    } finally {
      await control('/proxy/resume');
    }
    expect((await stub.status()).outboxDepth).toBe(30);
    const fromOutbox = await listen(source.tenantId, flushed.at(-1)!.sequence);
    const spanning = await listen(source.tenantId, flushed[4]!.sequence);
    await Promise.all([fromOutbox.ready(), spanning.ready()]);
    const events = (frames: Frame[]) => frames.flatMap((f) => (f.type === 'event' ? [[f.sequence, f.event.id]] : []));
    expect(events(fromOutbox.frames)).toEqual(waiting.map((a) => [a.sequence, a.id]));
    expect(events(spanning.frames)).toEqual([...flushed.slice(5), ...waiting].map((a) => [a.sequence, a.id]));
    expect(fromOutbox.frames.at(-1)).toEqual({ type: 'ready', head: waiting.at(-1)!.sequence });
    // the events still arrive live afterwards
    const live = await (await ingest(source, makeEvent())).json<Accepted>();
    await eventually(async () => fromOutbox.frames.some((f) => f.type === 'event' && f.sequence === live.sequence));
    fromOutbox.ws.close(1000);
    spanning.ws.close(1000);
  });
});
