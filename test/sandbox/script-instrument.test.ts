import { env, exports } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { requestSandboxes } from '../../src/sandbox';
import { instrument, positionOf, ScriptSyntaxError } from '../../src/sandbox/instrument';

const sandbox = () => requestSandboxes(env, { exports })!(`tn_instrument_${crypto.randomUUID()}`);
const run = (source: string, arg: unknown = null) => sandbox().call(source, 'transform', [arg]);

describe('script instrumentation', () => {
  it('guards the body of every loop and function without adding lines', () => {
    const source = [
      'export function transform(e) {',
      '  for (const x of e.xs) { while (x) x--; }',
      '  for (let i = 0; i < 3; i++) {}',
      '  outer: for (;;) continue outer;',
      '  do { } while (false);',
      '  return [1].map((x) => x * 2);',
      '}',
    ].join('\n');
    const { code } = instrument(source);
    expect(code.split('\n')).toHaveLength(7);
    expect(code).toContain('for (const x of e.xs) {__sy$tick(); while (x) {__sy$tick(); x--;} }');
    expect(code).toContain('for (let i = 0; i < 3; i++) {__sy$tick();}');
    expect(code).toContain('outer: for (;;) {__sy$tick(); continue outer;}');
    expect(code).toContain('do {__sy$tick(); } while (false);');
    expect(code).toContain('(x) => (__sy$tick(), x * 2)');
    expect(code).toMatch(/^import \{ tick as __sy\$tick \} from "\.\/guard\.js"; export function transform\(e\) \{__sy\$tick\(\);/);
  });

  it('guards methods, accessors, constructors, static blocks, generators and nested arrows', () => {
    const source =
      'class A extends B { static /* { */ { n++ } constructor() { super() } get v() { return 1 } set v(x) {} *g() {} async m() {} static #p() {} }\n' +
      'const o = { f() {}, async *h() {}, k: function () {}, a: async () => {}, c: (x) => (y) => ({ x, y }) };';
    const { code } = instrument(source);
    for (const guarded of [
      'static /* { */ {__sy$tick(); n++ }',
      'constructor() {__sy$tick(); super() }',
      'get v() {__sy$tick(); return 1 }',
      'set v(x) {__sy$tick();}',
      '*g() {__sy$tick();}',
      'async m() {__sy$tick();}',
      'static #p() {__sy$tick();}',
      'f() {__sy$tick();}',
      'async *h() {__sy$tick();}',
      'function () {__sy$tick();}',
      'async () => {__sy$tick();}',
      '(x) => (__sy$tick(), (y) => ((__sy$tick(), { x, y })))',
    ]) {
      expect(code).toContain(guarded);
    }
  });

  it('reads { class: 1 }, x?.class, {}/1, regular expressions, templates and comments as the syntax they are', () => {
    const source =
      "const o = { class: 1 }; o?.class; const d = {}/1; while (d) {} const r = /for (;;) {/; `${(() => { for (;;) {} })()}`; /* while (1) { */ const s = 'while (1) {}'; for (;;) {}";
    const { code } = instrument(source);
    expect(code.replace(/^import [^;]*; /, '')).toBe(
      "const o = { class: 1 }; o?.class; const d = {}/1; while (d) {__sy$tick();} const r = /for (;;) {/; `${(() => {__sy$tick(); for (;;) {__sy$tick();} })()}`; /* while (1) { */ const s = 'while (1) {}'; for (;;) {__sy$tick();}",
    );
  });

  it('refuses identifiers that could shadow the guard, also when spelled with escapes, and reports syntax errors with their position', () => {
    expect(() => instrument('const __sy$tick = () => true;')).toThrow(/reserved/);
    expect(() => instrument('const \\u005f_sy$tick = 1;')).toThrow(/reserved/);
    expect(() => instrument('class A { #__sy$x = 1 }')).toThrow(/reserved/);
    const source = 'const a = 1;\nconst b = a +;';
    let error: unknown;
    try {
      instrument(source);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ScriptSyntaxError);
    expect(positionOf(source, (error as ScriptSyntaxError).offset)).toEqual({ line: 2, column: 14 });
  });

  it('refuses a script nested too deeply to instrument as a syntax problem, not a crash', () => {
    for (const source of [`export const x = ${'['.repeat(30_000)}${']'.repeat(30_000)};`, `export const f = ${'() => '.repeat(20_000)}1;`]) {
      expect(() => instrument(source)).toThrow(ScriptSyntaxError);
      expect(() => instrument(source)).toThrow(/stack space|too deeply/);
    }
  });

  it('maps positions in the instrumented code back to the source', () => {
    const source = 'const a = 1;\nfunction f() { while (a) { a-- } return a + missing; }';
    const result = instrument(source);
    const line2 = result.code.split('\n')[1]!;
    expect(result.toOriginal({ line: 2, column: line2.indexOf('missing') + 1 })).toEqual({ line: 2, column: source.split('\n')[1]!.indexOf('missing') + 1 });
    // inside inserted text: the place it was inserted
    expect(result.toOriginal({ line: 2, column: line2.lastIndexOf('__sy$tick') + 3 })).toEqual({
      line: 2,
      column: source.split('\n')[1]!.indexOf('{ a--') + 2,
    });
    expect(result.toOriginal({ line: 1, column: 5 })).toEqual({ line: 1, column: 1 });
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
  const k = { class: 1 }; out.push(k?.class, Number.isNaN({}/1) ? 'nan' : 'number')
  class S { static n = 0; static { S.n = 3 } }
  let j = 0; do j += 2; while (j < 5) out.push(S.n, j)
  return out
}`;
    expect(await run(source)).toEqual([
      4.5,
      'no',
      1,
      5,
      'n=2!',
      'n=one',
      4,
      7,
      8,
      11,
      21,
      31,
      '012',
      1,
      2,
      4,
      '/12,/3',
      5,
      26.5,
      '10',
      1,
      'four',
      5,
      1,
      'nan',
      3,
      6,
    ]);
  });
});
