import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { includesLinear } from '../../src/lib/substring';

describe('linear substring search', () => {
  it('agrees with String.prototype.includes on generated strings', () => {
    const text = (max: number) => fc.array(fc.constantFrom('a', 'b', '😀'), { maxLength: max }).map((parts) => parts.join(''));
    fc.assert(
      fc.property(text(300), text(120), fc.nat(200), (haystack, needle, at) => {
        const planted = haystack.slice(0, at) + needle + haystack.slice(at);
        expect(includesLinear(haystack, needle)).toBe(haystack.includes(needle));
        expect(includesLinear(planted, needle)).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });

  it('answers at once for a needle that makes the built-in search take haystack × needle steps', () => {
    // 1 MiB of "a" against a…ab…a (5,000 units) took 0.7 s with includes
    const haystack = 'a'.repeat(1_000_000);
    expect(includesLinear(haystack, `${'a'.repeat(2500)}b${'a'.repeat(2500)}`)).toBe(false);
    expect(includesLinear(`${haystack}b${'a'.repeat(2500)}`, `${'a'.repeat(2500)}b${'a'.repeat(2500)}`)).toBe(true);
  });
});
