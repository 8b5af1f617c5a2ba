import { runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { AppendItem, AppendResponse } from '../../src/ingest/log-types';
import { groupCommit } from '../../src/durable/group-commit';
import { appendItem, createSource, eventually, testEnv, withTestDb } from '../fixtures/api';

type Expected = ['accepted', number, boolean] | ['conflict', number] | ['sequence_conflict', number];

/** What one append after another would answer: the model every group of a group commit must match. */
function sequentially(requests: AppendItem[][]): { expected: Expected[][]; stored: Map<number, string> } {
  const seen = new Map<string, { sha256: string; sequence: number }>();
  const heads = new Map<string, number>();
  const stored = new Map<number, string>();
  let last = 0;
  const expected = requests.map((items) =>
    items.map((it): Expected => {
      const earlier = seen.get(`${it.sourceId}\n${it.ceId}`);
      if (earlier) return earlier.sha256 === it.sha256 ? ['accepted', earlier.sequence, true] : ['conflict', earlier.sequence];
      if (it.expectedSequence != null && (heads.get(it.subject!) ?? 0) !== it.expectedSequence) return ['sequence_conflict', heads.get(it.subject!) ?? 0];
      const sequence = ++last;
      seen.set(`${it.sourceId}\n${it.ceId}`, { sha256: it.sha256, sequence });
      if (it.subject) heads.set(it.subject, sequence);
      stored.set(sequence, it.ceId);
      return ['accepted', sequence, false];
    }),
  );
  return { expected, stored };
}

const answered = (r: AppendResponse): Expected[] => {
  if (r.kind !== 'appended') throw new Error(`append answered ${r.kind}`);
  return r.results.map((x): Expected => {
    if (x.kind !== 'accepted' && x.kind !== 'conflict' && x.kind !== 'sequence_conflict') throw new Error(`unexpected ${x.kind} in this test`);
    return x.kind === 'accepted' ? [x.kind, x.sequence, x.duplicate] : x.kind === 'conflict' ? [x.kind, x.sequence] : [x.kind, x.currentSequence];
  });
};

describe('TenantLog group commit', () => {
  it('answers many concurrent appends each with its own result, in arrival order, and loses none of them when the object is reset', async () => {
    const source = await createSource();
    const log = testEnv.TENANT_LOG.getByName(source.tenantId);
    const s = source.sourceId;
    const requests: AppendItem[][] = [];
    for (let i = 0; i < 60; i++) {
      requests.push([appendItem(s, `e-${i}`, `h-${i}`)]);
      // resends of earlier ids: same body (duplicate) or another body (conflict), often in the same group
      if (i % 7 === 3) requests.push([appendItem(s, `e-${i - 1}`, `h-${i - 1}`)]);
      if (i % 11 === 5) requests.push([appendItem(s, `e-${i}`, 'another body')]);
      // a batch that repeats one of its own ids and one of the previous request's
      if (i % 13 === 8) requests.push([appendItem(s, `b-${i}`, `hb-${i}`), appendItem(s, `e-${i}`, `h-${i}`), appendItem(s, `b-${i}`, `hb-${i}`)]);
      // producers racing on one subject: only the first that expects the head it finds gets in
      if (i % 9 === 0) {
        requests.push([appendItem(s, `x-${i}-a`, `hx-${i}-a`, { subject: 'account-1', expectedSequence: 0 })]);
        requests.push([appendItem(s, `x-${i}-b`, `hx-${i}-b`, { subject: 'account-1', expectedSequence: 0 })]);
      }
    }
    const model = sequentially(requests);

    const responses = await Promise.all(requests.map((items) => log.append({ tenantId: source.tenantId, dedupWindowSeconds: 3600, configVersion: 0, items })));
    expect(responses.map(answered)).toEqual(model.expected);
    const last = Math.max(...model.stored.keys());
    expect([...model.stored.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: last }, (_, i) => i + 1));

    // the answers came after the commit: an object reset (abort, like a crash) keeps every sequence, dedup key and subject head
    await runInDurableObject(log, (_instance, state) => {
      try {
        state.abort('test: crash after the answers');
      } catch {
        // abort throws to end the current invocation
      }
    }).catch(() => {});
    const restarted = testEnv.TENANT_LOG.getByName(source.tenantId);
    expect((await restarted.status()).lastSequence).toBe(last);
    const again = await restarted.append({
      tenantId: source.tenantId,
      dedupWindowSeconds: 3600,
      configVersion: 0,
      items: [appendItem(s, 'e-17', 'h-17'), appendItem(s, 'late', 'h-late', { subject: 'account-1', expectedSequence: 0 })],
    });
    const accountHead = [...model.stored].filter(([, id]) => id.startsWith('x-')).map(([sequence]) => sequence)[0]!;
    expect(answered(again)).toEqual([
      ['accepted', [...model.stored].find(([, id]) => id === 'e-17')![0], true],
      ['sequence_conflict', accountHead],
    ]);
    const stored = await eventually(async () => {
      const rows = await withTestDb(
        async (db) =>
          (await db.query<{ sequence: string; ce_id: string }>('SELECT sequence, ce_id FROM events WHERE tenant_id = $1 ORDER BY sequence', [source.tenantId]))
            .rows,
      );
      return rows.length === last ? rows : null;
    });
    expect(stored.map((r) => [Number(r.sequence), r.ce_id])).toEqual([...model.stored].sort((a, b) => a[0] - b[0]));
  });
});

describe('group commit waiting for company (gather)', () => {
  /** A group commit over strings whose weight is their length; records each group and each wait, which the test ends. */
  const harness = (commitMs = 0) => {
    const groups: string[][] = [];
    const waits: { ms: number; end(): void }[] = [];
    const commit = groupCommit<string, string>({
      write: (inputs) => {
        groups.push([...inputs]);
        return inputs.map((i) => `ok ${i}`);
      },
      durable: () => new Promise((resolve) => setTimeout(resolve, commitMs)),
      gather: {
        ms: commitMs > 0 ? 5 : 60_000,
        siblings: 3,
        memoryMs: 50,
        maxWeight: 5,
        weight: (input) => input.length,
        sleep: (ms) => new Promise<void>((resolve) => waits.push({ ms, end: resolve })),
      },
    });
    /** Lets the group commit run until it writes or waits. */
    const settle = () => new Promise((resolve) => setTimeout(resolve, 0));
    return { commit, groups, waits, settle };
  };

  it('never holds back a lone caller, nor callers with fewer requests in flight than `siblings`', async () => {
    const { commit, groups, waits } = harness();
    for (const input of ['a', 'b', 'c', 'd']) expect(await commit.submit(input)).toBe(`ok ${input}`);
    expect(groups).toEqual([['a'], ['b'], ['c'], ['d']]);
    // two producers at once: groups of two at most, below `siblings`
    for (let round = 0; round < 3; round++) await Promise.all(['x', 'y'].map((i) => commit.submit(i)));
    expect(groups.slice(4)).toEqual([['x'], ['y'], ['x'], ['y'], ['x'], ['y']]);
    expect(waits).toEqual([]);
  });

  it('after a group of several, waits once and writes what arrived meanwhile as one group; stops waiting after a quiet spell', async () => {
    const { commit, groups, waits, settle } = harness();
    // the first is written at once; the three that arrive during its commit form the next group
    await Promise.all(['a', 'b', 'c', 'c2'].map((i) => commit.submit(i)));
    expect(groups).toEqual([['a'], ['b', 'c', 'c2']]);
    expect(waits).toEqual([]);
    // that group held `siblings`: the next request waits for company, and gets it
    const next = ['d', 'e', 'f'].map((i) => commit.submit(i));
    await settle();
    expect(waits.map((w) => w.ms)).toEqual([60_000]);
    expect(groups).toHaveLength(2);
    waits[0]!.end();
    expect(await Promise.all(next)).toEqual(['ok d', 'ok e', 'ok f']);
    expect(groups.at(-1)).toEqual(['d', 'e', 'f']);
    // company was seen just now, so a lone request waits too
    const lone = commit.submit('g');
    await settle();
    expect(waits).toHaveLength(2);
    waits[1]!.end();
    await lone;
    expect(groups.at(-1)).toEqual(['g']);
    // once no group of several was written for `memoryMs`, requests are written at once again
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(await commit.submit('h')).toBe('ok h');
    expect(waits).toHaveLength(2);
  });

  it('adds no wait where commits take longer than the wait (groups gather during them, as in production)', async () => {
    const { commit, groups, waits } = harness(30);
    await Promise.all(['a', 'b', 'c', 'c2'].map((i) => commit.submit(i)));
    expect(groups).toEqual([['a'], ['b', 'c', 'c2']]);
    const next = commit.submit('d');
    const during = commit.submit('e');
    expect(await Promise.all([next, during])).toEqual(['ok d', 'ok e']);
    expect(waits).toEqual([]);
  });

  it('does not hold back inputs that already weigh enough (a batch needs no company)', async () => {
    const { commit, groups, waits } = harness();
    await Promise.all(['a', 'b', 'c', 'c2'].map((i) => commit.submit(i)));
    expect(await commit.submit('heavy')).toBe('ok heavy');
    expect(waits).toEqual([]);
    expect(groups.at(-1)).toEqual(['heavy']);
  });
});
