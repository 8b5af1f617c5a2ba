import { describe, expect, it } from 'vitest';
import { insertEvents } from '../../src/db/events';
import { api, createSource, createTenant, eventually, ingest, makeEvent, withTestDb } from '../fixtures/api';

type Link = { id: string; ce_id: string; sequence: number; depth: number; causationid: string | null; correlationid: string | null; sha256: string };
type Part = { data: Link[]; truncated: boolean };
type Chain = {
  event: Link;
  ancestors: Part;
  descendants: Part;
  correlation: Part & { correlation_id: string | null };
  limits: { depth: number; size: number };
};

const evtId = (tenantIndex: number, sequence: number) => `evt_${String(tenantIndex).padStart(4, '0')}${String(sequence).padStart(22, '0')}`;

/** Stores events as the outbox flush does: `[ce_id, causationid?, correlationid?]` per event, sequences from 1. */
async function store(tenantId: string, tenantIndex: number, links: [string, string?, string?][]): Promise<void> {
  const rows = links.map(([ceId, causation, correlation], i) => ({
    sequence: i + 1,
    id: evtId(tenantIndex, i + 1),
    source_id: 'src_TEST',
    ce_id: ceId,
    type: 'chain.step',
    subject: null,
    time: null,
    partition_key: null,
    correlation_id: correlation ?? null,
    causation_id: causation ?? null,
    event: {
      specversion: '1.0',
      id: ceId,
      source: 's',
      type: 'chain.step',
      ...(causation ? { causationid: causation } : {}),
      ...(correlation ? { correlationid: correlation } : {}),
    },
    sha256: 'a'.repeat(64),
    received_at: Date.now(),
  }));
  for (let i = 0; i < rows.length; i += 500) await withTestDb((db) => insertEvents(db, tenantId, JSON.stringify(rows.slice(i, i + 500))));
}

const chainOf = (tenantId: string, id: string) => api<Chain>('GET', `/v1/tenants/${tenantId}/events/${id}/chain`);
const ceIds = (part: Part) => part.data.map((l) => [l.ce_id, l.depth]);

describe('GET /v1/tenants/{t}/events/{id}/chain', () => {
  it('follows causationid up to the ancestors and down to the descendants of an ingested event, with its correlation group', async () => {
    const source = await createSource();
    const tag = crypto.randomUUID();
    const [a, b, c, d, e] = ['a', 'b', 'c', 'd', 'e'].map((n) => `${tag}-${n}`);
    const events = [
      makeEvent({ id: a, correlationid: 'order-1' }),
      makeEvent({ id: b, causationid: a, correlationid: 'order-1' }),
      makeEvent({ id: c, causationid: b, correlationid: 'order-1' }),
      makeEvent({ id: d, causationid: a }),
      makeEvent({ id: e, correlationid: 'order-2' }),
    ];
    const res = await ingest(source, events, 'application/cloudevents-batch+json');
    const { results } = await res.json<{ results: { id: string }[] }>();
    const chain = await eventually(async () => {
      const got = await chainOf(source.tenantId, results[1]!.id);
      return got.status === 200 && got.body.descendants.data.length === 1 ? got.body : null;
    });
    expect(chain.event).toMatchObject({
      id: results[1]!.id,
      ce_id: b,
      causationid: a,
      correlationid: 'order-1',
      depth: 0,
      sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    expect(ceIds(chain.ancestors)).toEqual([[a, 1]]);
    expect(ceIds(chain.descendants)).toEqual([[c, 1]]);
    expect(chain.correlation).toMatchObject({ correlation_id: 'order-1', truncated: false });
    expect(chain.correlation.data.map((l) => l.ce_id)).toEqual([a, b, c]);
    expect(chain.limits).toEqual({ depth: 32, size: 500 });

    const root = (await chainOf(source.tenantId, results[0]!.id)).body;
    expect(root.ancestors).toEqual({ data: [], truncated: false });
    expect(ceIds(root.descendants)).toEqual([
      [b, 1],
      [d, 1],
      [c, 2],
    ]);
  });

  it('stops at 32 levels and 500 events and says so', async () => {
    const tenant = await createTenant();
    // a line of 40 causation steps, then a root with 600 children sharing one correlation id
    const line: [string, string?, string?][] = Array.from({ length: 40 }, (_, i) => [`l${i}`, i === 0 ? undefined : `l${i - 1}`]);
    const fan: [string, string?, string?][] = [
      ['root', undefined, 'big'],
      ...Array.from({ length: 600 }, (_, i): [string, string, string] => [`kid${i}`, 'root', 'big']),
    ];
    await store(tenant, 1, [...line, ...fan]);

    const last = (await chainOf(tenant, evtId(1, 40))).body;
    expect(last.ancestors.data).toHaveLength(32);
    expect(last.ancestors.data.at(-1)).toMatchObject({ ce_id: 'l7', depth: 32 });
    expect(last.ancestors.truncated).toBe(true);
    const near = (await chainOf(tenant, evtId(1, 10))).body;
    expect(near.ancestors).toMatchObject({ truncated: false });
    expect(near.ancestors.data).toHaveLength(9);
    const first = (await chainOf(tenant, evtId(1, 1))).body;
    expect(first.descendants.data).toHaveLength(32);
    expect(first.descendants.truncated).toBe(true);

    const root = (await chainOf(tenant, evtId(1, 41))).body;
    expect(root.descendants.data).toHaveLength(500);
    expect(root.descendants.truncated).toBe(true);
    expect(root.descendants.data.every((l) => l.depth === 1)).toBe(true);
    expect(root.correlation.data).toHaveLength(500);
    expect(root.correlation).toMatchObject({ correlation_id: 'big', truncated: true });
  });

  it('ends a causation loop and lists each event once', async () => {
    const tenant = await createTenant();
    // x → y → z → x, a self-caused event, and a diamond (two events share the producer id "p")
    await store(tenant, 2, [['x', 'z'], ['y', 'x'], ['z', 'y'], ['self', 'self'], ['p'], ['p'], ['q', 'p'], ['r', 'q']]);
    const x = (await chainOf(tenant, evtId(2, 1))).body;
    expect(ceIds(x.ancestors)).toEqual([
      ['z', 1],
      ['y', 2],
    ]);
    expect(ceIds(x.descendants)).toEqual([
      ['y', 1],
      ['z', 2],
    ]);
    expect(x.ancestors.truncated || x.descendants.truncated).toBe(false);
    const self = (await chainOf(tenant, evtId(2, 4))).body;
    expect(self.ancestors).toEqual({ data: [], truncated: false });
    expect(self.descendants).toEqual({ data: [], truncated: false });
    const r = (await chainOf(tenant, evtId(2, 8))).body;
    expect(r.ancestors.data.map((l) => [l.sequence, l.depth])).toEqual([
      [7, 1],
      [5, 2],
      [6, 2],
    ]);
  });

  it('never follows a causationid into another tenant, and answers 404 for an unknown event', async () => {
    const mine = await createTenant();
    const theirs = await createTenant();
    await store(theirs, 3, [['parent']]);
    await store(mine, 4, [['child', 'parent', 'shared']]);
    const chain = (await chainOf(mine, evtId(4, 1))).body;
    expect(chain.ancestors).toEqual({ data: [], truncated: false });
    expect(chain.correlation.data.map((l) => l.id)).toEqual([evtId(4, 1)]);
    const missing = await chainOf(mine, evtId(3, 1));
    expect(missing).toMatchObject({ status: 404, body: { code: 'event_not_found' } });
  });
});
