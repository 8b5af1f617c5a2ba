import { describe, expect, it } from 'vitest';

// loaded at run time: src/ uses extensionless imports, which the scripts' tsconfig (node16) does not type-check
interface ShardRouting {
  slotOf(key: string): number;
  ownerOf(slot: number, shards: number): number;
  shardOfSequence(sequence: number): number;
  routeKey(item: { partitionKey: string | null; subject: string | null; sourceId: string; ceId: string }): string;
  SEQUENCE_STRIDE: number;
}
const modulePath = '../../src/tenancy/shard-routing';
const routing = (await import(/* @vite-ignore */ modulePath)) as ShardRouting;

// Pinned vectors (docs/design/sharding.md §1), computed by an independent implementation. If one of
// these fails, the hash changed, and every multi-shard tenant's keys would land on other shards.
describe('shard routing', () => {
  it('maps keys to slots with FNV-1a 32 + fmix32 (top 10 bits)', () => {
    expect(routing.slotOf('')).toBe(684);
    expect(routing.slotOf('order-1')).toBe(584);
    expect(routing.slotOf('customer-42')).toBe(669);
    expect(routing.slotOf('évènement')).toBe(92);
    expect(routing.slotOf('src_01\nce-1')).toBe(620);
  });

  it('maps slots to shards with jump consistent hash, spread evenly', () => {
    const slots = [0, 1, 2, 3, 100, 511, 512, 1023];
    expect(slots.map((s) => routing.ownerOf(s, 4))).toEqual([0, 0, 3, 3, 1, 3, 2, 1]);
    expect(slots.map((s) => routing.ownerOf(s, 64))).toEqual([0, 55, 62, 8, 44, 22, 29, 44]);
    expect(slots.map((s) => routing.ownerOf(s, 1))).toEqual(slots.map(() => 0));
    const counts = [0, 0, 0, 0];
    for (let s = 0; s < 1024; s++) counts[routing.ownerOf(s, 4)]!++;
    expect(counts).toEqual([258, 257, 255, 254]);
    // growing 4 → 5 moves only slots to the new shard
    for (let s = 0; s < 1024; s++) {
      const after = routing.ownerOf(s, 5);
      if (after !== routing.ownerOf(s, 4)) expect(after).toBe(4);
    }
  });

  it('routes by partition key, then subject, then source and id; sequences name their shard', () => {
    expect(routing.routeKey({ partitionKey: 'p', subject: 's', sourceId: 'src', ceId: 'x' })).toBe('p');
    expect(routing.routeKey({ partitionKey: null, subject: 's', sourceId: 'src', ceId: 'x' })).toBe('s');
    expect(routing.routeKey({ partitionKey: null, subject: null, sourceId: 'src', ceId: 'x' })).toBe('src\nx');
    expect(routing.SEQUENCE_STRIDE).toBe(10 ** 13);
    expect(routing.shardOfSequence(42)).toBe(0);
    expect(routing.shardOfSequence(3 * 10 ** 13 + 1)).toBe(3);
    expect(routing.shardOfSequence(63 * 10 ** 13 + 10 ** 13 - 1)).toBe(63);
  });
});
