import { evictDurableObject, runDurableObjectAlarm } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { FLUSH_CHARS } from '../../src/durable/tenant-log';
import { control, createSource, eventually, ingest, makeEvent, testEnv, withTestDb } from '../fixtures/api';

type Accepted = { id: string; sequence: number; duplicate: boolean };

const storedSequences = (tenantId: string) =>
  withTestDb(async (db) => {
    const result = await db.query<{ sequence: string }>('SELECT sequence FROM events WHERE tenant_id = $1 ORDER BY sequence', [tenantId]);
    return result.rows.map((r) => Number(r.sequence));
  });

describe('TenantLog: dedup, order, durability', () => {
  it('answers a resent event with duplicate: true and the first sequence', async () => {
    const source = await createSource();
    const event = makeEvent();
    const first = await (await ingest(source, event)).json<Accepted>();
    const again = await ingest(source, event);
    expect(again.status).toBe(202);
    expect(await again.json()).toEqual({ id: first.id, sequence: first.sequence, duplicate: true });
  });

  it('refuses the same id with a different body as idempotency_conflict', async () => {
    const source = await createSource();
    const event = makeEvent();
    await ingest(source, event);
    const res = await ingest(source, { ...event, data: { amount: 43 } });
    expect(res.status).toBe(422);
    expect(await res.json()).toMatchObject({ code: 'idempotency_conflict' });
  });

  it('deduplicates per source: the same id from two sources is two events', async () => {
    const a = await createSource();
    const b = await createSource(a.tenantId);
    const event = makeEvent();
    const first = await (await ingest(a, event)).json<Accepted>();
    const second = await (await ingest(b, event)).json<Accepted>();
    expect([first.duplicate, second.duplicate]).toEqual([false, false]);
    expect(second.sequence).toBe(first.sequence + 1);
  });

  it('treats a repeated id inside one batch as a duplicate (same body) or a conflict (different body)', async () => {
    const source = await createSource();
    const event = makeEvent();
    const res = await ingest(source, [event, makeEvent(), event, { ...event, data: { amount: 1 } }], 'application/cloudevents-batch+json');
    const { results } = await res.json<{ results: (Accepted & { status: number; code?: string })[] }>();
    expect(results.map((r) => [r.status, r.sequence, r.duplicate, r.code])).toEqual([
      [202, 1, false, undefined],
      [202, 2, false, undefined],
      [202, 1, true, undefined],
      [422, undefined, undefined, 'idempotency_conflict'],
    ]);
  });

  it('accepts an id again as a new event once its dedup window has passed', async () => {
    const source = await createSource();
    const log = testEnv.TENANT_LOG.getByName(source.tenantId);
    const item = {
      sourceId: source.sourceId,
      ceId: 'evt-1',
      sha256: 'aa',
      type: 'a.b',
      subject: null,
      time: null,
      partitionKey: null,
      correlationId: null,
      causationId: null,
      json: JSON.stringify(makeEvent({ id: 'evt-1', type: 'a.b' })),
    };
    const append = (dedupWindowSeconds: number) => log.append({ tenantId: source.tenantId, dedupWindowSeconds, configVersion: 0, items: [item] });
    const first = await append(0);
    await new Promise((resolve) => setTimeout(resolve, 5));
    const second = await append(60);
    const third = await append(60);
    expect(
      [first, second, third].map((r) => (r.kind === 'appended' ? r.results.map((x) => [x.kind, x.sequence, 'duplicate' in x && x.duplicate]) : r)),
    ).toEqual([[['accepted', 1, false]], [['accepted', 2, false]], [['accepted', 2, true]]]);
  });

  it('gives concurrent duplicates of one id exactly one sequence', async () => {
    const source = await createSource();
    const event = makeEvent();
    const results = await Promise.all(Array.from({ length: 20 }, async () => (await ingest(source, event)).json<Accepted>()));
    expect(new Set(results.map((r) => r.sequence)).size).toBe(1);
    expect(results.filter((r) => !r.duplicate)).toHaveLength(1);
  });

  it('assigns a gap-free sequence under concurrent posts', async () => {
    const source = await createSource();
    const results = await Promise.all(Array.from({ length: 50 }, async () => (await ingest(source, makeEvent())).json<Accepted>()));
    expect(results.map((r) => r.sequence).sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(await eventually(async () => ((await storedSequences(source.tenantId)).length === 50 ? storedSequences(source.tenantId) : null))).toEqual(
      Array.from({ length: 50 }, (_, i) => i + 1),
    );
  });

  it('stores a backlog of large events in several flushes, each under the batch size cap', async () => {
    const source = await createSource();
    const big = 'x'.repeat(900_000);
    // one request each (a body is at most 1 MiB); together ~5.4 MB, more than one flush takes
    const answers = await Promise.all(Array.from({ length: 6 }, (_, i) => ingest(source, makeEvent({ data: { i, big } }))));
    expect(answers.map((r) => r.status)).toEqual(Array(6).fill(202));
    expect(await eventually(async () => ((await storedSequences(source.tenantId)).length === 6 ? storedSequences(source.tenantId) : null), 20_000)).toEqual([
      1, 2, 3, 4, 5, 6,
    ]);
    // each flush is one Postgres transaction: its rows share an xmin. A flush takes events while the
    // batch stays under FLUSH_CHARS (its first event always goes), so ~5.4 MB needs at least two
    const flushes = await withTestDb(
      async (db) =>
        (
          await db.query<{ chars: string; n: string }>(
            'SELECT sum(length(event::text)) AS chars, count(*) AS n FROM events WHERE tenant_id = $1 GROUP BY xmin::text',
            [source.tenantId],
          )
        ).rows,
    );
    expect(flushes.length).toBeGreaterThanOrEqual(2);
    for (const flush of flushes) expect(Number(flush.chars) - big.length).toBeLessThan(FLUSH_CHARS);
  });

  it('keeps sequence and dedup state across an eviction of the Durable Object', async () => {
    const source = await createSource();
    const event = makeEvent();
    const first = await (await ingest(source, event)).json<Accepted>();
    const stub = testEnv.TENANT_LOG.getByName(source.tenantId);
    await evictDurableObject(stub);
    expect(await (await ingest(source, event)).json()).toEqual({ ...first, duplicate: true });
    const next = await (await ingest(source, makeEvent())).json<Accepted>();
    expect(next.sequence).toBe(first.sequence + 1);
  });

  it('keeps acknowledged events in the outbox while Postgres is unreachable and stores them once it is back', async () => {
    const source = await createSource();
    const stub = testEnv.TENANT_LOG.getByName(source.tenantId);
    expect((await ingest(source, makeEvent())).status).toBe(202); // the source is now cached in this isolate
    await eventually(async () => (await storedSequences(source.tenantId)).length === 1);
    await control('/proxy/pause');
    try {
      const before = Date.now();
      const accepted = await Promise.all(Array.from({ length: 10 }, async () => (await ingest(source, makeEvent())).status));
      expect(accepted).toEqual(Array(10).fill(202));
      const status = await eventually(async () => {
        const s = await stub.status();
        return s.flushFailures > 0 ? s : null;
      });
      expect(status.outboxDepth).toBe(10);
      // the oldest waiting event was accepted during this outage (the metrics' outbox lag counts from it)
      expect(status.oldestOutboxAt).toBeGreaterThanOrEqual(before);
      expect(status.oldestOutboxAt).toBeLessThanOrEqual(Date.now());
      // a restart during the outage must not lose the outbox either
      await evictDurableObject(stub);
      expect((await stub.status()).outboxDepth).toBe(10);
    } finally {
      await control('/proxy/resume');
    }
    await runDurableObjectAlarm(stub);
    expect(await storedSequences(source.tenantId)).toEqual(Array.from({ length: 11 }, (_, i) => i + 1));
    expect(await stub.status()).toMatchObject({ outboxDepth: 0, oldestOutboxAt: null, flushFailures: 0 });
  });

  it('answers 503 source_lookup_unavailable, not 500, when Postgres is unreachable and the source is not cached', async () => {
    const source = await createSource();
    await control('/proxy/pause');
    try {
      const res = await ingest(source, makeEvent());
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBeTruthy();
      expect(await res.json()).toMatchObject({ code: 'source_lookup_unavailable' });
    } finally {
      await control('/proxy/resume');
    }
    expect((await ingest(source, makeEvent())).status).toBe(202);
  });

  it('does not store an event twice when a flush is repeated after Postgres already committed it', async () => {
    const source = await createSource();
    await ingest(source, makeEvent());
    await eventually(async () => (await storedSequences(source.tenantId)).length === 1);
    // replay the same outbox row, as a crash between the Postgres commit and the outbox delete would
    const { insertEvents } = await import('../../src/db/events');
    const row = await withTestDb(async (db) => {
      const r = await db.query('SELECT id, source_id, ce_id, type, event, sha256 FROM events WHERE tenant_id = $1', [source.tenantId]);
      return r.rows[0] as { id: string; source_id: string; ce_id: string; type: string; event: unknown; sha256: string };
    });
    const inserted = await withTestDb((db) =>
      insertEvents(
        db,
        source.tenantId,
        JSON.stringify([
          {
            sequence: 1,
            id: row.id,
            source_id: row.source_id,
            ce_id: row.ce_id,
            type: row.type,
            subject: null,
            time: null,
            partition_key: null,
            correlation_id: null,
            causation_id: null,
            event: row.event,
            sha256: row.sha256,
            received_at: Date.now(),
          },
        ]),
      ),
    );
    expect(inserted).toEqual({ events: 0, deliveries: 0 });
    expect(await storedSequences(source.tenantId)).toEqual([1]);
  });
});
