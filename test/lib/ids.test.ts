import { afterEach, describe, expect, it, vi } from 'vitest';
import { newId, newIds, timeOfId } from '../../src/lib/ids';

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** 80 bits as 16 Crockford base32 digits, most significant first: the encoding the ids' random part is defined by. */
function base32(bytes: Uint8Array): string {
  let bits = 0n;
  for (const byte of bytes) bits = (bits << 8n) | BigInt(byte);
  let out = '';
  for (let shift = 75n; shift >= 0n; shift -= 5n) out += CROCKFORD[Number((bits >> shift) & 31n)];
  return out;
}

afterEach(() => vi.restoreAllMocks());

describe('newIds', () => {
  it('writes the time once and each id’s 80 random bits in order, as newId does', () => {
    // deterministic bytes, so the encoding can be checked against the reference
    let next = 7;
    vi.spyOn(crypto, 'getRandomValues').mockImplementation(<T extends ArrayBufferView | null>(array: T): T => {
      const bytes = array as unknown as Uint8Array;
      for (let i = 0; i < bytes.length; i++) bytes[i] = next = (next * 73 + 41) % 256;
      return array;
    });
    const now = Date.UTC(2026, 10, 30, 4, 5, 6, 789);
    next = 7;
    const ids = newIds('evt', 50, now);
    next = 7;
    const drawn = new Uint8Array(500);
    crypto.getRandomValues(drawn);
    expect(ids).toHaveLength(50);
    ids.forEach((id, n) => {
      expect(id).toMatch(/^evt_[0-9A-HJKMNP-TV-Z]{26}$/);
      expect(timeOfId(id)).toBe(now);
      expect(id.slice(14)).toBe(base32(drawn.subarray(n * 10, n * 10 + 10)));
    });
    // one draw for the whole batch
    expect(crypto.getRandomValues).toHaveBeenCalledTimes(2);
  });

  it('covers every digit, both ends of the byte range included', () => {
    vi.spyOn(crypto, 'getRandomValues').mockImplementation(<T extends ArrayBufferView | null>(array: T): T => {
      const bytes = array as unknown as Uint8Array;
      bytes.fill(0xff, 0, 10);
      bytes.fill(0x00, 10, 20);
      return array;
    });
    const [high, low] = newIds('dlv', 2, 0);
    expect(high).toBe(`dlv_0000000000${'Z'.repeat(16)}`);
    expect(low).toBe(`dlv_0000000000${'0'.repeat(16)}`);
  });

  it('makes distinct, time-ordered ids, and newId is one of them', () => {
    const ids = newIds('evt', 1000, 1_800_000_000_000);
    expect(new Set(ids).size).toBe(1000);
    // an id of a later millisecond sorts after every id of an earlier one
    const latest = [...ids].sort().at(-1)!;
    expect(newId('evt', 1_800_000_000_001) > latest).toBe(true);
    expect(timeOfId(newId('tn', 42))).toBe(42);
    expect(newIds('src', 0)).toEqual([]);
  });
});
