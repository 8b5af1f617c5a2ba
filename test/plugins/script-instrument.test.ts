import { env, exports } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { requestSandboxes } from '../../src/plugins/sandbox';
import { instrument, TokenizeError } from '../../src/plugins/sandbox/instrument';

const sandbox = () => requestSandboxes(env, { exports })!(`tn_instrument_${crypto.randomUUID()}`);
const run = (source: string, arg: unknown = null) => sandbox().call(source, 'transform', [arg]);

describe('script instrumentation', () => {
  it('guards loops, function bodies and concise arrows without adding lines', () => {
    const source = [
      'export function transform(e) {',
      '  for (const x of e.xs) { while (x) x--; }',
      '  for (let i = 0; i < 3; i++) {}',
      '  for (;;) { break; }',
      '  do { } while (false);',
      '  return [1].map((x) => x * 2);',
      '}',
    ].join('\n');
    const { code } = instrument(source);
    expect(code.split('\n')).toHaveLength(7);
    expect(code).toContain('for (const x of __sy$iter( e.xs))');
    expect(code).toContain('while (__sy$tick() && (x))');
    expect(code).toContain('for (let i = 0; __sy$tick() && ( i < 3); i++)');
    expect(code).toContain('for (; __sy$tick();)');
    expect(code).toContain('while (__sy$tick() && (false))');
    expect(code).toContain('(x) => (__sy$tick(),  x * 2)');
    expect(code).toMatch(/^import \{ tick as __sy\$tick.*export function transform\(e\) \{__sy\$tick\(\);/);
  });

  it('leaves strings, templates, comments and regular expressions alone', () => {
    const source = "const s = 'while (x) {}'; // for (;;)\nconst t = `for (;;) ${'while (1)'}`; /* while (1) */ const r = /while \\(1\\)[/]/g;";
    const { code } = instrument(source);
    expect(code.replace(/^import [^;]*; /, '')).toBe(source);
  });

  it('refuses identifiers that could shadow the guard, and unicode escapes in names', () => {
    expect(() => instrument('const __sy$tick = () => true;')).toThrow(/reserved/);
    expect(() => instrument('const \\u005f_sy$tick = 1;')).toThrow(TokenizeError);
  });

  it('maps positions in the instrumented code back to the source', () => {
    const source = 'const a = 1;\nfunction f() { while (a) {} return a +; }';
    const result = instrument(source);
    const line2 = result.code.split('\n')[1]!;
    const column = line2.indexOf('+;') + 2;
    expect(result.toOriginal({ line: 2, column })).toEqual({ line: 2, column: source.split('\n')[1]!.indexOf('+;') + 2 });
  });

  it('keeps the meaning of tricky but valid scripts', async () => {
    const source = `
const half = (x) => x / 2
const id = x => x
(function () {})
const pick = (c) => c ? 'yes' : 'no'
const obj = () => ({ a: 1 })
const curried = a => b => a + b
const tpl = (n) => \`n=\${n > 1 ? \`\${n}!\` : 'one'}\`
class Base { constructor(v) { this.v = v } get double() { return this.v * 2 } static of(v) { return new this(v) } }
class Child extends (Base) { constructor(v) { super(v + 1) } for(x) { return x } ['while'](y) { return y } }
function* gen() { let i = 0; while (i < 3) yield i++ }
async function* agen() { yield 1; yield 2 }
export async function transform() {
  const out = []
  out.push(half(9), pick(0), obj().a, curried(2)(3), tpl(2), tpl(1))
  out.push(Child.of(1).double, new Child(0).for(7), new Child(0).while(8))
  outer: for (const a of [1, 2, 3]) { for (const b of [1, 2]) { if (b === 2) continue outer; out.push(a * 10 + b) } }
  out.push([...gen()].join(''))
  for await (const v of agen()) out.push(v)
  let n = 0; do { n++ } while (n < 4); out.push(n)
  const re = /[/]\\d+/g; out.push('a/12b/3'.match(re).join(','))
  const x = 10, g = 2; out.push(x / g / 1)
  out.push(.5 + 1e1 + 0x10, 10n.toString(), out?.length > 0 ? 1 : 0)
  switch (n) { case 4: out.push('four'); break; default: out.push('other') }
  const s = new Set([1]); for (const v of s) if (v < 5) s.add(v + 1); out.push(s.size)
  return out
}`;
    expect(await run(source)).toEqual([4.5, 'no', 1, 5, 'n=2!', 'n=one', 4, 7, 8, 11, 21, 31, '012', 1, 2, 4, '/12,/3', 5, 26.5, '10', 1, 'four', 5]);
  });
});
