/**
 * A replay of a multi-shard tenant owes every event received before it was made, including those a
 * shard's outbox still holds: it waits for that shard's horizon instead of finishing without them
 * (this file pauses the database link, so it runs alone).
 */
import { describe, expect, it } from 'vitest';
import { findReplay, insertReplay } from '../../src/db/replays';
import { newId } from '../../src/lib/ids';
import type { ReplayMessage } from '../../src/lib/queue-messages';
import { behindDelaySeconds, runReplayStep } from '../../src/queues/replay-step';
import { ownerOf, shardLog, slotOf } from '../../src/tenancy/shard-routing';
import { control, createSource, createTenant, eventually, ingest, makeEvent, subscribeWebhook, testEnv, withTestDb } from '../fixtures/api';
import { receiverPath } from '../fixtures/receiver';

const keyOn = (shard: number) => {
  for (let i = 0; ; i++) if (ownerOf(slotOf(`behind-${i}`), 2) === shard) return `behind-${i}`;
};

describe('a replay of a tenant with more than one shard', () => {
  it('waits for a shard whose outbox still holds events received before the replay, then replays them', async () => {
    const tenantId = await createTenant('replay behind', { shards: 2 });
    const source = await createSource(tenantId);
    const { url } = receiverPath();
    const sub = await subscribeWebhook<{ id: string }>(source, url);
    for (const shard of [0, 1]) expect((await ingest(source, makeEvent({ partitionkey: keyOn(shard), data: { shard } }))).status).toBe(202);
    const late = shardLog(testEnv, tenantId, 1);
    await eventually(async () => (await shardLog(testEnv, tenantId, 0).status()).outboxDepth === 0 && (await late.status()).outboxDepth === 0);

    // acknowledged while Postgres is out of reach: shard 1 holds it, and backs off 1.6-2.4 s after two failures
    let held: string;
    await control('/proxy/pause');
    try {
      const res = await ingest(source, makeEvent({ partitionkey: keyOn(1), data: { held: true } }));
      expect(res.status).toBe(202);
      held = (await res.json<{ id: string }>()).id;
      await eventually(async () => (await late.status()).flushFailures >= 2);
    } finally {
      await control('/proxy/resume');
    }

    const replay = await withTestDb((db) => insertReplay(db, newId('rpl'), tenantId, sub.id, {}));
    const message = { type: 'replay.v1', tenant_id: tenantId, replay_id: replay.id } as const;
    // the steps' own chained messages, seen on their way to the real queue
    const sent: { body: ReplayMessage; delaySeconds?: number }[] = [];
    const queue = testEnv.DELIVERY_QUEUE;
    const watched = (forward: boolean) =>
      ({
        ...testEnv,
        DELIVERY_QUEUE: {
          send: async (body: ReplayMessage, options?: QueueSendOptions) => {
            sent.push({ body, delaySeconds: options?.delaySeconds });
            if (forward) await queue.send(body, options);
          },
          sendBatch: (messages: Iterable<MessageSendRequest>, options?: QueueSendBatchOptions) => queue.sendBatch(messages, options),
        },
      }) as unknown as typeof testEnv;
    expect(await runReplayStep(watched(true), message)).toEqual({ kind: 'done' });
    // still in the outbox after the step (else the backoff was shorter than this test assumes)
    expect((await late.status()).outboxDepth).toBe(1);
    const first = await withTestDb((db) => findReplay(db, tenantId, replay.id));
    expect(first).toMatchObject({ status: 'running', events_matched: 2 });
    // it moved the cursor, so it asks again after 1 s; a step that finds nothing new while still behind waits twice as long as the one before
    expect(sent[0]).toEqual({ body: { ...message, waits: 0 }, delaySeconds: 1 });
    expect(await runReplayStep(watched(false), { ...message, waits: 3 })).toEqual({ kind: 'done' });
    expect((await late.status()).outboxDepth).toBe(1);
    expect(sent[1]).toEqual({ body: { ...message, waits: 4 }, delaySeconds: 16 });
    expect([0, 1, 2, 5, 6, 7, 40].map(behindDelaySeconds)).toEqual([1, 2, 4, 32, 60, 60, 60]);

    // the step asked again a second later, through the queue; once the shard stored the event, the replay has it
    const done = await eventually(
      async () => {
        const r = await withTestDb((db) => findReplay(db, tenantId, replay.id));
        return r?.status === 'running' ? null : r;
      },
      15_000,
      200,
    );
    expect(done).toMatchObject({ status: 'completed', events_matched: 3, deliveries: 3 });
    const replayed = await withTestDb(
      async (db) => (await db.query<{ event_id: string }>('SELECT event_id FROM deliveries WHERE replay_id = $1', [replay.id])).rows,
    );
    expect(replayed.map((d) => d.event_id)).toContain(held!);
  }, 40_000);
});
