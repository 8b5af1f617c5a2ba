import { runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { pruneHeads } from '../../src/durable/subject-head-store';
import { call, createSource, eventually, ingest, makeEvent, signedHeaders, testEnv, withTestDb } from '../fixtures/api';

type Answer = { status: number; sequence?: number; duplicate?: boolean; code?: string; current_sequence?: number };
const BATCH = 'application/cloudevents-batch+json';

async function answer(res: Response): Promise<Answer> {
  return { status: res.status, ...(await res.json<Omit<Answer, 'status'>>()) };
}

describe('expectedsequence (optimistic concurrency per subject)', () => {
  it('accepts exactly one of many concurrent producers expecting the same head; the others get 409 with the current sequence', async () => {
    const source = await createSource();
    await ingest(source, makeEvent({ subject: 'other' }));
    const answers = await Promise.all(
      Array.from({ length: 12 }, async () => answer(await ingest(source, makeEvent({ subject: 'order-1', expectedsequence: 0 })))),
    );
    const won = answers.filter((a) => a.status === 202);
    expect(won).toHaveLength(1);
    expect(won[0]).toMatchObject({ sequence: 2, duplicate: false });
    const lost = answers.filter((a) => a.status !== 202);
    expect(lost).toHaveLength(11);
    for (const a of lost) expect(a).toMatchObject({ status: 409, code: 'sequence_conflict', current_sequence: 2 });

    // the next writer that read the head gets in (a string of digits is the same number), a stale one does not
    const next = makeEvent({ subject: 'order-1', expectedsequence: '2' });
    expect(await answer(await ingest(source, next))).toMatchObject({ status: 202, sequence: 3 });
    expect(await answer(await ingest(source, makeEvent({ subject: 'order-1', expectedsequence: 2 })))).toMatchObject({
      status: 409,
      current_sequence: 3,
    });
    // a resend of an accepted event is its duplicate, not a conflict with the head it moved
    expect(await answer(await ingest(source, next))).toMatchObject({ status: 202, sequence: 3, duplicate: true });
  });

  it('checks each event of a batch against the heads the events before it left', async () => {
    const source = await createSource();
    const res = await ingest(
      source,
      [
        makeEvent({ subject: 'a', expectedsequence: 0 }),
        makeEvent({ subject: 'a', expectedsequence: 1 }),
        makeEvent({ subject: 'b', expectedsequence: 0 }),
        makeEvent({ subject: 'a', expectedsequence: 0 }),
        makeEvent({ subject: 'a' }),
        makeEvent({ subject: 'a', expectedsequence: 4 }),
      ],
      BATCH,
    );
    expect(res.status).toBe(202);
    const { results } = await res.json<{ results: Answer[] }>();
    expect(results.map((r) => [r.status, r.sequence ?? r.current_sequence])).toEqual([
      [202, 1],
      [202, 2],
      [202, 3],
      [409, 2],
      [202, 4],
      [202, 5],
    ]);
    expect(results[3]).toMatchObject({ code: 'sequence_conflict', current_sequence: 2 });
  });

  it('keeps the check exact for a subject whose idle head was pruned, reading its head from Postgres', async () => {
    const source = await createSource();
    for (const subject of ['idle', 'idle', 'live']) expect((await ingest(source, makeEvent({ subject }))).status).toBe(202);
    await eventually(async () => {
      const stored = await withTestDb((db) => db.query<{ n: string }>('SELECT count(*) AS n FROM events WHERE tenant_id = $1', [source.tenantId]));
      return Number(stored.rows[0]!.n) === 3;
    });
    // as if 30 days passed: every head whose events reached Postgres goes, then the object restarts
    const log = testEnv.TENANT_LOG.getByName(source.tenantId);
    await runInDurableObject(log, (_instance, state) => {
      expect(pruneHeads(state.storage.sql, Date.now() + 1, 3)).toBe(2);
      try {
        state.abort('test: restart after pruning');
      } catch {
        // abort throws to end the current invocation
      }
    }).catch(() => {});

    expect(await answer(await ingest(source, makeEvent({ subject: 'idle', expectedsequence: 0 })))).toMatchObject({
      status: 409,
      code: 'sequence_conflict',
      current_sequence: 2,
    });
    expect(await answer(await ingest(source, makeEvent({ subject: 'idle', expectedsequence: 2 })))).toMatchObject({ status: 202, sequence: 4 });
    expect(await answer(await ingest(source, makeEvent({ subject: 'idle', expectedsequence: 4 })))).toMatchObject({ status: 202, sequence: 5 });
    expect(await answer(await ingest(source, makeEvent({ subject: 'never-seen', expectedsequence: 0 })))).toMatchObject({ status: 202, sequence: 6 });
  });

  it('refuses an expectedsequence that is not a non-negative integer, or that has no subject, as invalid_event', async () => {
    const source = await createSource();
    for (const bad of [-1, 1.5, 'abc', '01', true, 2 ** 53]) {
      const res = await ingest(source, makeEvent({ subject: 's', expectedsequence: bad }));
      expect(res.status, String(bad)).toBe(422);
      expect(await res.json()).toMatchObject({ code: 'invalid_event', errors: [{ pointer: '/expectedsequence' }] });
    }
    const orphan = await ingest(source, makeEvent({ expectedsequence: 0 }));
    expect(orphan.status).toBe(422);
    expect(await orphan.json()).toMatchObject({ errors: [{ pointer: '/expectedsequence' }] });
    // binary mode carries it as a ce- header (the signed webhook-id is the event id)
    const body = '{"n":1}';
    const binary = await call(`/v1/ingest/${source.sourceId}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'ce-specversion': '1.0',
        'ce-id': 'bin-1',
        'ce-source': 'https://example.com',
        'ce-type': 'orders.created',
        'ce-subject': 'bin',
        'ce-expectedsequence': '7',
        ...(await signedHeaders(source.secret, body, { id: 'bin-1' })),
      },
      body,
    });
    expect(await answer(binary)).toMatchObject({ status: 409, code: 'sequence_conflict', current_sequence: 0 });
  });
});
