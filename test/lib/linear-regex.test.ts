import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileLinearRegex, MAX_PATTERN_CHARS, toRe2Syntax } from '../../src/lib/linear-regex';

const CHARS = ['a', 'b', '1', '_', ' ', '\n', '\r', '\t', '\u2028', '\u00a0', '\ufeff', '.', '-', 'é', 'Ω', '😀'];

/** ECMAScript patterns inside the supported subset, built from a small grammar. */
const patterns = fc.letrec<{ pattern: string; atom: string; item: string }>((tie) => ({
  item: fc.oneof(
    fc.constantFrom(
      'a',
      'b',
      'z',
      '1',
      '_',
      ' ',
      '-',
      'é',
      '😀',
      '\\d',
      '\\D',
      '\\w',
      '\\W',
      '\\s',
      '\\S',
      '\\b',
      '\\-',
      '\\]',
      '\\n',
      '\\u00e9',
      '\\u{1F600}',
      '\\x41',
      '\\p{L}',
      '\\P{Lu}',
      '\\p{Script=Greek}',
    ),
    fc.constantFrom('a-z', '0-9', '\\u0000-\\u001f', 'Α-Ω'),
  ),
  // shallow and short on purpose: the built-in engine on the other side of the comparison backtracks
  atom: fc.oneof(
    { depthSize: 'small', maxDepth: 2 },
    fc.constantFrom(
      'a',
      'b',
      '1',
      '_',
      ' ',
      'é',
      '😀',
      '.',
      '\\.',
      '\\d',
      '\\D',
      '\\w',
      '\\W',
      '\\s',
      '\\S',
      '\\b',
      '\\B',
      '^',
      '$',
      '\\n',
      '\\t',
      '\\u2028',
      '\\uD83D\\uDE00',
      '\\x61',
      '\\cJ',
      '\\0',
      '\\p{Ll}',
      '\\P{L}',
      '[]',
      '[^]',
    ),
    fc.tuple(fc.boolean(), fc.array(tie('item'), { minLength: 1, maxLength: 3 })).map(([negated, items]) => `[${negated ? '^' : ''}${items.join('')}]`),
    fc.tuple(fc.constantFrom('(', '(?:', '(?<g>'), tie('pattern')).map(([open, inner]) => `${open}${inner})`),
  ),
  pattern: fc
    .array(
      fc
        .tuple(tie('atom'), fc.constantFrom('', '', '', '*', '+', '?', '{2}', '{1,3}', '{0,}', '*?', '+?'))
        .map(([atom, q]) => (/^[$^]$|^\\[bB]$/.test(atom) ? atom : atom + q)),
      { maxLength: 3 },
    )
    .chain((terms) => fc.constantFrom(terms.join(''), `${terms.join('')}|${terms.slice(1).join('')}`)),
}));

describe('linear-time tenant regular expressions', () => {
  it('agrees with the ECMAScript engine on generated patterns and inputs', () => {
    fc.assert(
      fc.property(patterns.pattern, fc.array(fc.constantFrom(...CHARS), { maxLength: 6 }), (pattern, chars) => {
        fc.pre(pattern.length <= 80);
        let native: RegExp;
        try {
          native = new RegExp(pattern, 'u');
        } catch {
          return fc.pre(false); // e.g. a group name used twice
        }
        const compiled = compileLinearRegex(pattern);
        if (!compiled.ok && /at most|too complex/.test(compiled.error)) return fc.pre(false);
        if (!compiled.ok) throw new Error(`${pattern} was refused: ${compiled.error}`);
        const input = chars.join('');
        expect(compiled.test(input), `${pattern} on ${JSON.stringify(input)}`).toBe(native.test(input));
      }),
      { numRuns: 5000 },
    );
  });

  it('matches ^(a+)+$ in one pass when the input would make a backtracking engine run for seconds', () => {
    const compiled = compileLinearRegex('^(a+)+$');
    expect(compiled.ok && compiled.test(`${'a'.repeat(40)}!`)).toBe(false);
    expect(compiled.ok && compiled.test('a'.repeat(100_000))).toBe(true);
    const nested = compileLinearRegex('^(\\w+\\s?)*$');
    expect(nested.ok && nested.test(`${'word '.repeat(10_000)}!`)).toBe(false);
  });

  it('refuses what cannot run in linear time and says why', () => {
    expect(compileLinearRegex('^(a)\\1$')).toEqual({ ok: false, error: 'backreferences (\\1, \\k<name>) are not supported' });
    expect(compileLinearRegex('(?<y>a)\\k<y>')).toMatchObject({ ok: false, error: expect.stringContaining('backreferences') });
    expect(compileLinearRegex('a(?=b)')).toMatchObject({ ok: false, error: expect.stringContaining('lookahead') });
    expect(compileLinearRegex('a(?!b)')).toMatchObject({ ok: false, error: expect.stringContaining('lookahead') });
    expect(compileLinearRegex('(?<=a)b')).toMatchObject({ ok: false, error: expect.stringContaining('lookbehind') });
    expect(compileLinearRegex('(?<!a)b')).toMatchObject({ ok: false, error: expect.stringContaining('lookbehind') });
    expect(compileLinearRegex('\\p{Alphabetic}')).toMatchObject({ ok: false, error: expect.stringContaining('general category') });
    expect(compileLinearRegex('a{1001}')).toMatchObject({ ok: false });
    expect(compileLinearRegex('((a{100}){100}){100}')).toMatchObject({ ok: false });
    expect(compileLinearRegex('(')).toMatchObject({ ok: false, error: expect.stringContaining('not a valid regular expression') });
    expect(compileLinearRegex('a'.repeat(MAX_PATTERN_CHARS + 1))).toEqual({ ok: false, error: `a pattern has at most ${MAX_PATTERN_CHARS} characters` });
  });

  it('keeps the ECMAScript meaning where RE2 syntax differs', () => {
    const cases: Array<[string, string, boolean]> = [
      ['^.$', '\n', false],
      ['^.$', '\u2028', false],
      ['^.$', '😀', true],
      ['^\\s$', '\u00a0', true],
      ['^\\S$', '\ufeff', false],
      ['[]', 'a', false],
      ['^[^]$', '\n', true],
      ['^[\\b]$', '\b', true],
      ['^a$', 'a\n', false],
      ['^\\u{1F600}$', '😀', true],
      ['^\\w+$', 'é', false],
    ];
    for (const [pattern, input, expected] of cases) {
      const compiled = compileLinearRegex(pattern);
      expect(compiled.ok && compiled.test(input), `${pattern} on ${JSON.stringify(input)}`).toBe(expected);
      expect(new RegExp(pattern, 'u').test(input)).toBe(expected);
    }
    expect(toRe2Syntax('')).toEqual({ ok: true, re2: '(?:)' });
  });
});
