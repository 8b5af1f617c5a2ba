import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { transaction } from '../../src/db/client';
import { searchEvents } from '../../src/db/event-search';
import { insertEvents, listEvents } from '../../src/db/events';
import { whereToSql } from '../../src/db/where-sql';
import { compileFilter } from '../../src/delivery/filter';
import { sha256Hex } from '../../src/lib/encoding';
import { api, createSource, createTenant, eventually, ingest, makeEvent, withTestDb } from '../fixtures/api';

type Page = { data: Record<string, unknown>[]; next_cursor: string | null };
type Problem = { code: string; errors?: { pointer: string }[] };

const search = (tenantId: string, where: unknown, extra = '') =>
  api<Page>('GET', `/v1/tenants/${tenantId}/events?where=${encodeURIComponent(typeof where === 'string' ? where : JSON.stringify(where))}${extra}`);
const sequences = (page: Page) => page.data.map((e) => e.sequence);

/** Rows as the TenantLog's outbox flush writes them, for events the test controls completely. */
async function store(tenantId: string, events: Record<string, unknown>[]): Promise<void> {
  const rows = events.map((event, i) => ({
    sequence: i + 1,
    id: `evt_TEST${String(i + 1).padStart(22, '0')}`,
    source_id: 'src_TEST',
    ce_id: String(event.id),
    type: String(event.type),
    subject: typeof event.subject === 'string' ? event.subject : null,
    time: null,
    partition_key: null,
    correlation_id: null,
    causation_id: null,
    event,
    sha256: '0'.repeat(64),
    received_at: Date.now(),
  }));
  await withTestDb((db) => insertEvents(db, tenantId, JSON.stringify(rows)));
}

const orders = [
  {
    id: 'o1',
    type: 'orders.created',
    subject: 'customer/1',
    data: { amount: 10, currency: 'EUR', tags: ['new', 'vip'], note: '100%_done', customer: { tier: 'gold' } },
  },
  { id: 'o2', type: 'orders.created', subject: 'customer/2', data: { amount: 250, currency: 'USD', tags: ['new'], note: 'plain' } },
  { id: 'o3', type: 'orders.paid', subject: 'customer/1', data: { amount: 250, currency: 'EUR', tags: [], note: 'a\\b', customer: { tier: 'silver' } } },
  { id: 'o4', type: 'orders.paid', subject: 'customer/3', priority: 'high', data: { amount: '250', currency: null, note: 'vip customer' } },
  { id: 'o5', type: 'orders.refunded', data: { amount: 5.5, lines: [{ sku: 'A-1' }, { sku: 'B-2' }] } },
].map((e) => ({ specversion: '1.0', source: 'https://shop.example', ...e }));

describe('GET /v1/tenants/{t}/events?where=', () => {
  it('matches each operator of the subscription language against stored events', async () => {
    const tenant = await createTenant();
    await store(tenant, orders);
    const cases: [unknown, number[]][] = [
      [{ 'data.currency': 'EUR' }, [1, 3]],
      [{ 'data.amount': { $eq: 250 } }, [2, 3]],
      [{ 'data.amount': { $ne: 250 } }, [1, 4, 5]],
      [{ 'data.currency': { $in: ['USD', null] } }, [2, 4]],
      [{ 'data.currency': { $nin: ['EUR'] } }, [2, 4, 5]],
      [{ 'data.amount': { $gt: 10 } }, [2, 3]],
      [{ 'data.amount': { $gte: 10, $lt: 250 } }, [1]],
      [{ 'data.amount': { $lte: '3' } }, [4]],
      [{ 'data.customer': { $exists: true } }, [1, 3]],
      [{ 'data.currency': { $exists: false } }, [5]],
      [{ 'data.tags': { $contains: 'vip' } }, [1]],
      [{ 'data.note': { $contains: 'vip' } }, [4]],
      [{ 'data.note': { $contains: '%_' } }, [1]],
      [{ 'data.note': { $contains: 'a\\b' } }, [3]],
      [{ subject: { $startsWith: 'customer/' } }, [1, 2, 3, 4]],
      [{ type: { $endsWith: '.paid' } }, [3, 4]],
      [{ 'data.lines.1.sku': 'B-2' }, [5]],
      [{ 'data.lines.0.sku': { $in: ['A-1', 'Z'] } }, [5]],
      [{ 'data.currency': { $in: [...Array.from({ length: 40 }, (_, i) => `X${i}`), 'USD'] } }, [2]],
      [{ 'data.lines': { $contains: { sku: 'A-1' } } }, [5]],
      [{ 'data.customer': { tier: 'gold' } }, [1]],
      [{ priority: 'high' }, [4]],
      [{ $or: [{ 'data.amount': 5.5 }, { 'data.customer.tier': 'silver' }] }, [3, 5]],
      [{ $and: [{ type: 'orders.created' }, { $not: { 'data.tags': { $contains: 'vip' } } }] }, [2]],
      [{}, [1, 2, 3, 4, 5]],
    ];
    for (const [where, expected] of cases) {
      const res = await search(tenant, where);
      expect({ where, status: res.status, sequences: sequences(res.body) }).toEqual({ where, status: 200, sequences: expected });
    }
  });

  it('combines where with the type and subject filters and pages with the cursor', async () => {
    const tenant = await createTenant();
    await store(tenant, orders);
    expect(sequences((await search(tenant, { 'data.amount': { $gte: 10 } }, '&type=orders.paid')).body)).toEqual([3]);
    expect(sequences((await search(tenant, { 'data.amount': { $exists: true } }, '&subject=customer/1')).body)).toEqual([1, 3]);
    const seen: unknown[] = [];
    let cursor: string | null = null;
    do {
      const page: { body: Page } = await search(tenant, { 'data.amount': { $exists: true } }, `&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.body.data.length).toBeLessThanOrEqual(2);
      seen.push(...sequences(page.body));
      cursor = page.body.next_cursor;
    } while (cursor);
    expect(seen).toEqual([1, 2, 3, 4, 5]);
  });

  it('never returns another tenant’s events', async () => {
    const mine = await createSource();
    const theirs = await createSource();
    const event = makeEvent({ data: { marker: 'shared-marker' } });
    for (const source of [mine, theirs]) expect((await ingest(source, { ...event, id: `${event.id}-${source.tenantId}` })).status).toBe(202);
    const found = await eventually(async () => {
      const res = await search(mine.tenantId, { 'data.marker': 'shared-marker' });
      return res.body.data.length > 0 ? res.body : null;
    });
    expect(found.data.map((e) => e.ce_id)).toEqual([`${event.id}-${mine.tenantId}`]);
  });

  it('refuses a malformed or over-budget where with the subscription codes', async () => {
    const tenant = await createTenant();
    const cases: [string, number, string, string?][] = [
      ['{"data.amount":', 422, 'invalid_filter', '/where'],
      ['[1]', 422, 'validation_failed', '/where'],
      [JSON.stringify({ 'data.amount': { $near: 1 } }), 422, 'invalid_filter', '/where/data.amount/$near'],
      [JSON.stringify({ 'data.amount': { $in: 3 } }), 422, 'invalid_filter', '/where/data.amount/$in'],
      [JSON.stringify({ 'data.__proto__.x': 1 }), 422, 'invalid_filter'],
      [JSON.stringify({ 'data.x': { $in: Array.from({ length: 5000 }, (_, i) => `value-${i}`) } }), 422, 'filter_too_large', '/where'],
      [JSON.stringify({ $and: Array.from({ length: 201 }, (_, i) => ({ [`data.k${i}`]: i })) }), 422, 'invalid_filter'],
    ];
    for (const [where, status, code, pointer] of cases) {
      const res = await api<Problem>('GET', `/v1/tenants/${tenant}/events?where=${encodeURIComponent(where)}`);
      expect({ where: where.slice(0, 60), status: res.status, code: res.body.code }).toEqual({ where: where.slice(0, 60), status, code });
      if (pointer) expect(res.body.errors?.[0]?.pointer).toBe(pointer);
    }
  });

  it('stops a search that runs past its statement timeout instead of holding the database', async () => {
    const tenant = await createTenant();
    await store(
      tenant,
      Array.from({ length: 3000 }, (_, i) => ({ specversion: '1.0', id: `e${i}`, source: 's', type: 'load.test', data: { text: `row ${i} \uE001 text` } })),
    );
    // 3,000 rows × 50 UTF-16-ordered comparisons (regexp rewrites of every row) take far longer than 1 ms
    const where = { $or: Array.from({ length: 50 }, (_, i) => ({ 'data.text': { $gt: `zz${i}\uE000` } })) };
    const outcome = await withTestDb((db) => searchEvents(db, tenant, { where, limit: 10 }, 1));
    expect(outcome).toEqual({ kind: 'timeout', ms: 1 });
    const normal = await withTestDb((db) => searchEvents(db, tenant, { where, limit: 10 }));
    expect(normal).toEqual({ kind: 'page', events: [] });
  });

  it('exposes the sha256 of the event as the producer sent it', async () => {
    const source = await createSource();
    // compact JSON with the attributes in the hashed order: the hash is the hash of these very bytes
    const body = JSON.stringify({
      specversion: '1.0',
      id: `sha-${crypto.randomUUID()}`,
      source: 'https://shop.example',
      type: 'orders.created',
      subject: 'order/1',
      data: { z: 1, a: 'é', nested: { y: [1, 2.5, true, null] } },
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      region: 'eu',
    });
    const accepted = await (await ingest(source, body)).json<{ id: string }>();
    const stored = await eventually(async () => {
      const res = await api<Record<string, unknown>>('GET', `/v1/tenants/${source.tenantId}/events/${accepted.id}`);
      return res.status === 200 ? res.body : null;
    });
    expect(stored.sha256).toBe(await sha256Hex(body));
    const listed = await api<Page>('GET', `/v1/tenants/${source.tenantId}/events`);
    expect(listed.body.data[0]?.sha256).toBe(stored.sha256);
  });
});

// ---- property: SQL answers exactly as filter.ts does, on the same stored events ----

const strings = ['', 'a', 'ab', 'abc', 'b', 'A', '%', '_', 'a%b', 'a_c', '\\', 'é', 'éa', '\uE000', '\uFFFF', '😀', 'a😀', '\u{10FFFF}', '1', '10', 'null'];
const numbers = [0, 1, -1, 1.5, 2, 10, 100, 1e21, 0.1];
const scalar = fc.oneof(fc.constantFrom(...strings), fc.constantFrom(...numbers), fc.boolean(), fc.constant(null));
const keys = ['a', 'b', 'ab', 'n', 's', 'arr', 'o', '0', '10', 'é', '-1'];
const value: fc.Arbitrary<unknown> = fc.letrec<{ v: unknown }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    scalar,
    fc.array(tie('v'), { maxLength: 3 }),
    fc.dictionary(fc.constantFrom(...keys), tie('v'), { maxKeys: 3 }),
  ),
})).v;
const eventArb = fc.record(
  {
    type: fc.constantFrom('a.b', 'a.c', 'x.y'),
    subject: fc.constantFrom(...strings),
    priority: fc.oneof(fc.constantFrom(...strings), fc.constantFrom(...numbers)),
    data: fc.oneof(fc.dictionary(fc.constantFrom(...keys), value, { maxKeys: 5 }), value),
  },
  { requiredKeys: ['type'] },
);

const paths = [
  'data',
  'data.a',
  'data.b',
  'data.ab',
  'data.n',
  'data.s',
  'data.arr',
  'data.arr.0',
  'data.arr.1',
  'data.o',
  'data.o.a',
  'data.0',
  'data.10',
  'data.é',
  'data.o.0',
  'data.a.b',
  'data.-1',
  'data.arr.-1',
  'data.o.-1',
  'subject',
  'type',
  'priority',
  'missing',
  'id',
];
const stringOrNumber = fc.oneof(fc.constantFrom(...strings), fc.constantFrom(...numbers));
const operatorArb = fc.oneof(
  fc.record({ $eq: value }),
  fc.record({ $ne: value }),
  fc.record({ $in: fc.array(value, { maxLength: 4 }) }),
  fc.record({ $nin: fc.array(value, { maxLength: 4 }) }),
  fc.record({ $gt: stringOrNumber }),
  fc.record({ $gte: stringOrNumber, $lt: stringOrNumber }),
  fc.record({ $lte: stringOrNumber }),
  fc.record({ $exists: fc.boolean() }),
  fc.record({ $contains: value }),
  fc.record({ $startsWith: fc.constantFrom(...strings) }),
  fc.record({ $endsWith: fc.constantFrom(...strings) }),
);
const fieldArb = fc
  .tuple(
    fc.constantFrom(...paths),
    fc.oneof(
      operatorArb,
      value.filter((v) => typeof v !== 'object' || v === null || Array.isArray(v) || !Object.keys(v).some((k) => k.startsWith('$'))),
    ),
  )
  .map(([path, condition]) => ({ [path]: condition }));
const whereArb: fc.Arbitrary<Record<string, unknown>> = fc.letrec<{ w: Record<string, unknown> }>((tie) => ({
  w: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fieldArb,
    fc.array(tie('w'), { minLength: 1, maxLength: 3 }).map((list) => ({ $and: list })),
    fc.array(tie('w'), { minLength: 1, maxLength: 3 }).map((list) => ({ $or: list })),
    tie('w').map((inner) => ({ $not: inner })),
  ),
})).w;

describe('where in SQL', () => {
  it('selects exactly the events filter.ts selects, for generated events and filters', async () => {
    const tenant = await createTenant();
    const generated = fc.sample(eventArb, { numRuns: 200, seed: 1616 });
    const edge = [
      { type: 'e.dge', data: { o: { b: 1, a: 2 }, ab: { ab: 1, b: 2 }, arr: [[1], { a: 1 }, 'a'], 0: 'zero', 10: ['x'] } },
      { type: 'e.dge', data: [{ a: 1 }, 'ab', 1.5] },
      { type: 'e.dge', data: { a: { b: null }, s: 'a%b', n: 1e21 } },
    ];
    const events = [...generated, ...edge].map((e, i) => ({ specversion: '1.0', id: `p${i}`, source: 's', ...e }));
    await store(tenant, events);
    await withTestDb(async (db) => {
      const stored = await listEvents(db, tenant, { limit: 1000 });
      expect(stored.length).toBe(events.length);
      await fc.assert(
        fc.asyncProperty(whereArb, async (where) => {
          const compiled = compileFilter(where);
          if (!compiled.ok) return;
          const expected = stored.filter((e) => compiled.test(e.event)).map((e) => e.sequence);
          const got = (await listEvents(db, tenant, { where, limit: 1000 })).map((e) => e.sequence);
          expect(got).toEqual(expected);
        }),
        { numRuns: 1000, seed: 16 },
      );
    });
  }, 120_000);

  it('answers equality on the payload and on extensions from the search index, and on type and id from their columns', async () => {
    // only bitmap scans left, so the plan shows which index the condition can use at all; planned
    // without the tenant, whose own index would look as cheap on a test database's few rows
    const plan = (where: Record<string, unknown>) =>
      withTestDb(async (db) => {
        const params: unknown[] = [];
        const sql = whereToSql(where, (value) => `$${params.push(value)}`);
        return transaction(db, async () => {
          await db.query('SET LOCAL enable_seqscan = off');
          await db.query('SET LOCAL enable_indexscan = off');
          const rows = (await db.query<{ 'QUERY PLAN': string }>(`EXPLAIN SELECT id FROM events WHERE ${sql}`, params)).rows;
          return [...new Set(rows.flatMap((r) => /Bitmap Index Scan on (\S+)/.exec(r['QUERY PLAN'])?.[1] ?? []))];
        });
      });
    // every partition's copy of the named partitioned index
    const copies = (index: string) =>
      withTestDb(async (db) =>
        (await db.query<{ name: string }>(`SELECT relid::regclass::text AS name FROM pg_partition_tree($1)`, [index])).rows.map((r) => r.name),
      );
    const payload = await copies('events_payload_path_idx');
    const within = (used: string[], allowed: string[]) => used.length > 0 && used.every((name) => allowed.includes(name));

    expect(within(await plan({ 'data.customer.id': 'cus_4242' }), payload)).toBe(true);
    expect(within(await plan({ region: 'eu-west' }), payload)).toBe(true);
    expect(within(await plan({ 'data.status': { $in: ['failed', 'refunded'] } }), payload)).toBe(true);
    expect(within(await plan({ type: 'orders.paid' }), await copies('events_type_idx'))).toBe(true);
    expect(within(await plan({ id: 'order-17' }), await copies('events_ce_id_idx'))).toBe(true);
  });
});
