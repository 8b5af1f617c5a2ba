import { describe, expect, it } from 'vitest';
import { sha256Hex, sha256HexEach } from '../../src/lib/encoding';

describe('sha256HexEach', () => {
  it('gives each text the digest sha256Hex gives it alone, whatever its characters', async () => {
    const texts = [
      '',
      '{"id":"a"}',
      'é日本語',
      // a pair takes 4 bytes of UTF-8 from 2 units, a lone surrogate 3 (as U+FFFD), like TextEncoder
      '🚀 and \ud800 alone',
      'x'.repeat(100_000),
      '{"id":"a"}',
    ];
    const each = await sha256HexEach(texts);
    expect(each).toEqual(await Promise.all(texts.map((t) => sha256Hex(t))));
    // a known value, so the two cannot agree on a wrong answer
    expect(each[0]).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(await sha256HexEach([])).toEqual([]);
  });
});
