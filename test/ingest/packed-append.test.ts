import { describe, expect, it } from 'vitest';
import type { AppendItem, AppendRequest, AppendResponse, AppendResult } from '../../src/ingest/log-types';
import { appendPackedTo, packItems, packOne, packResults, type PackedAppender, unpackItems, unpackOne, unpackResults } from '../../src/ingest/packed-append';
import { appendItem, createSource, eventually, testEnv, withTestDb } from '../fixtures/api';

const item = (sourceId: string, ceId: string, extra: Partial<AppendItem> = {}) => appendItem(sourceId, ceId, `sha-${ceId}`, extra);

const request = (tenantId: string, items: AppendItem[]): AppendRequest => ({ tenantId, dedupWindowSeconds: 3600, configVersion: 0, items });

describe('the packed (columnar) append', () => {
  it('unpacks to the items it was packed from, optional fields present exactly where they were', () => {
    const items: AppendItem[] = [
      item('src_a', 'e-1', { subject: 'order/1', time: '2026-01-02T03:04:05Z', partitionKey: 'k', correlationId: 'c', causationId: 'x', schemaVersion: 3 }),
      item('src_b', 'e-2', { expectedSequence: 0, subject: 'account-1' }),
      item('src_a', 'e-3', { slot: 17, idSlot: 900, claimedAt: 1_767_225_600_000 }),
      item('src_a', 'e-4', { slot: 0, idSlot: 0 }),
    ];
    const normal = (i: AppendItem) => ({ ...i, schemaVersion: i.schemaVersion ?? null, expectedSequence: i.expectedSequence ?? null });
    expect(unpackItems(packItems(items))).toEqual(items.map(normal));
    const back = unpackItems(packItems(items));
    // absent, not undefined or null: the log tells a claimed item by `claimedAt !== undefined` and a multi-shard one by `slot`
    expect('claimedAt' in back[3]!).toBe(false);
    expect('slot' in back[0]!).toBe(false);
    expect(back[3]!.slot).toBe(0);
    // a 1-shard append carries no shard columns at all
    expect(packItems([items[0]!, items[1]!]).slot).toBeUndefined();
  });

  it('sends a one-item append as primitives and gets back the request it was, absent fields still absent', () => {
    const requests: AppendRequest[] = [
      request('ten_1', [
        item('src_a', 'e-1', { subject: 'order/1', time: '2026-01-02T03:04:05Z', partitionKey: 'k', correlationId: 'c', causationId: 'x', schemaVersion: 3 }),
      ]),
      { ...request('ten_1', [item('src_b', 'e-2', { expectedSequence: 0, subject: 'account-1' })]), shard: 2, shards: 4, epoch: 3, movingFrom: 2 },
      { ...request('ten_1', [item('src_a', 'e-3', { slot: 0, idSlot: 900, claimedAt: 1_767_225_600_000 })]), shards: 4, epoch: 0, movingFrom: null },
    ];
    for (const r of requests) {
      const values = packOne(r);
      // nothing but strings, numbers and nulls crosses: an object or array argument is what costs
      expect(values.every((v) => v === null || typeof v === 'string' || typeof v === 'number')).toBe(true);
      const back = unpackOne(values);
      const { items, ...rest } = r;
      const { items: backItems, ...backRest } = back;
      // request fields sent as null (movingFrom) come back absent, which every reader takes as null
      expect(backRest).toEqual(Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== null)));
      expect(backItems).toEqual([{ ...items[0], schemaVersion: items[0]!.schemaVersion ?? null, expectedSequence: items[0]!.expectedSequence ?? null }]);
    }
    const [first, , third] = requests.map((r) => unpackOne(packOne(r)).items[0]!);
    expect('slot' in first!).toBe(false);
    expect('claimedAt' in first!).toBe(false);
    expect(third!.slot).toBe(0);
  });

  it('keeps every kind of result in its place', () => {
    const results: AppendResult[] = [
      { kind: 'accepted', id: 'evt_1', sequence: 1, duplicate: false },
      { kind: 'conflict', id: 'evt_1', sequence: 1 },
      { kind: 'sequence_conflict', currentSequence: 4 },
      { kind: 'accepted', id: 'evt_1', sequence: 1, duplicate: true },
      { kind: 'moved', to: 2 },
      { kind: 'claim_contended' },
    ];
    expect(unpackResults(packResults(results))).toEqual(results);
    expect(unpackResults(packResults([]))).toEqual([]);
  });

  it('answers through a TenantLog exactly as `append` does, and stores the same events: sequences, duplicates, conflicts and guarded subjects', async () => {
    // two tenants, one log each: one appended packed, the other as before
    const [one, two] = [await createSource(), await createSource()];
    const packed = testEnv.TENANT_LOG.getByName(one.tenantId);
    const plain = testEnv.TENANT_LOG.getByName(two.tenantId);
    const batches = (s: string) => [
      [item(s, 'a'), item(s, 'b', { subject: 'order/1' }), item(s, 'a')],
      [
        item(s, 'b', { sha256: 'another body' }),
        item(s, 'c', { subject: 'order/1', expectedSequence: 2 }),
        item(s, 'd', { subject: 'order/1', expectedSequence: 0 }),
      ],
      [item(s, 'e', { partitionKey: 'k', time: '2026-01-02T03:04:05.000Z', schemaVersion: 2 })],
    ];
    const [ours, theirs] = [batches(one.sourceId), batches(two.sourceId)];
    // event ids are drawn at random; everything else must agree
    const anonymous = (r: AppendResponse) => (r.kind === 'appended' ? r.results.map((x) => ({ ...x, id: x.id === undefined ? 'none' : 'evt' })) : r);
    for (let i = 0; i < ours.length; i++) {
      const viaPacked = await appendPackedTo(packed, request(one.tenantId, ours[i]!));
      const viaAppend = await plain.append(request(two.tenantId, theirs[i]!));
      expect(anonymous(viaPacked)).toEqual(anonymous(viaAppend));
    }
    // a duplicate answers its original's id
    const again = await appendPackedTo(packed, request(one.tenantId, [item(one.sourceId, 'a'), item(one.sourceId, 'a')]));
    expect(again).toMatchObject({
      kind: 'appended',
      results: [
        { sequence: 1, duplicate: true },
        { sequence: 1, duplicate: true },
      ],
    });
    expect(again.kind === 'appended' && again.results[0]!.id).toBe(again.kind === 'appended' && again.results[1]!.id);
    // what reached Postgres is the same too
    const stored = (tenantId: string) =>
      eventually(() =>
        withTestDb(async (db) => {
          const rows = await db.query<{
            sequence: string;
            ce_id: string;
            subject: string | null;
            partition_key: string | null;
            schema_version: number | null;
            sha256: string;
          }>('SELECT sequence, ce_id, subject, partition_key, schema_version, sha256 FROM events WHERE tenant_id = $1 ORDER BY sequence', [tenantId]);
          return rows.rows.length === 4 ? rows.rows : null;
        }),
      );
    const [mine, yours] = [await stored(one.tenantId), await stored(two.tenantId)];
    expect(mine.map((r) => [Number(r.sequence), r.ce_id, r.subject, r.partition_key, r.schema_version, r.sha256])).toEqual([
      [1, 'a', null, null, null, 'sha-a'],
      [2, 'b', 'order/1', null, null, 'sha-b'],
      [3, 'c', 'order/1', null, null, 'sha-c'],
      [4, 'e', null, 'k', 2, 'sha-e'],
    ]);
    expect(mine).toEqual(yours);
  });

  it('answers `stale` and `gone` unchanged', async () => {
    const source = await createSource();
    const log = testEnv.TENANT_LOG.getByName(`${source.tenantId}-stale`);
    await appendPackedTo(log, { ...request(source.tenantId, [item(source.sourceId, 'a')]), configVersion: 5 });
    expect(await appendPackedTo(log, { ...request(source.tenantId, [item(source.sourceId, 'b')]), configVersion: 4 })).toEqual({
      kind: 'stale',
      configVersion: 5,
    });
  });

  it('falls back to the older forms when the log is of a version without them (a deploy in progress), and passes other errors on', async () => {
    const calls: string[] = [];
    const answer: AppendResponse = { kind: 'appended', results: [{ kind: 'accepted', id: 'evt_1', sequence: 1, duplicate: false }] };
    const missing = (method: string) => () => {
      calls.push(method);
      // what workerd throws for a method the object does not have
      return Promise.reject(new TypeError(`The RPC receiver does not implement the method "${method}".`));
    };
    const append = async (r: AppendRequest) => {
      calls.push(`append ${r.items.map((i) => i.ceId).join(',')}`);
      return answer;
    };
    // a log of two versions ago has neither `appendOne` nor `appendPacked`
    const oldest: PackedAppender = { appendOne: missing('appendOne'), appendPacked: missing('appendPacked'), append };
    expect(await appendPackedTo(oldest, request('ten_1', [item('src_a', 'a')]))).toEqual(answer);
    expect(calls.splice(0)).toEqual(['appendOne', 'appendPacked', 'append a']);
    // a batch never tries `appendOne`
    expect(await appendPackedTo(oldest, request('ten_1', [item('src_a', 'a'), item('src_a', 'b')]))).toEqual(answer);
    expect(calls.splice(0)).toEqual(['appendPacked', 'append a,b']);
    // a log of the version before has `appendPacked`
    const older: PackedAppender = {
      appendOne: missing('appendOne'),
      appendPacked: async (r) => {
        calls.push(`appendPacked ${r.items.ceId.join(',')}`);
        return { kind: 'appended', results: packResults(answer.kind === 'appended' ? answer.results : []) };
      },
      append,
    };
    expect(await appendPackedTo(older, request('ten_1', [item('src_a', 'a')]))).toEqual(answer);
    expect(calls.splice(0)).toEqual(['appendOne', 'appendPacked a']);

    const failing: PackedAppender = {
      appendOne: () => Promise.reject(new Error('Durable Object storage operation exceeded timeout')),
      appendPacked: () => Promise.reject(new Error('Durable Object storage operation exceeded timeout')),
      append: () => Promise.reject(new Error('must not be called')),
    };
    await expect(appendPackedTo(failing, request('ten_1', [item('src_a', 'a')]))).rejects.toThrow('exceeded timeout');
    await expect(appendPackedTo(failing, request('ten_1', [item('src_a', 'a'), item('src_a', 'b')]))).rejects.toThrow('exceeded timeout');
  });
});
