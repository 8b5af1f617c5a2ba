import { env, exports } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { requestSandboxes } from '../../src/sandbox';

const tenant = () => `tn_sandbox_${crypto.randomUUID()}`;
const sandboxOf = (tenantId = tenant()) => requestSandboxes(env, { exports })!(tenantId);
const healthy = 'export function validate(event) { return { ok: event.data.amount > 0 } }';

/** After each pathological script, a healthy one of another tenant still answers. */
async function stillServing(): Promise<void> {
  expect(await sandboxOf().call(healthy, 'validate', [{ data: { amount: 1 } }])).toEqual({ ok: true });
}

describe('script sandbox containment', () => {
  it('cuts off an endless loop and keeps serving', async () => {
    const sandbox = sandboxOf();
    await expect(sandbox.call('export function validate() { while (true) {} }', 'validate', [{}])).rejects.toThrow(/exceeded its CPU budget/);
    await stillServing();
  });

  it('cuts off a loop that catches the guard and carries on', async () => {
    const source = 'export function validate() { for (;;) { try { while (true) {} } catch {} } }';
    await expect(sandboxOf().call(source, 'validate', [{}])).rejects.toThrow(/exceeded its CPU budget/);
    await stillServing();
  });

  it('cuts off an endless chain of microtasks and a collection that grows while iterated', async () => {
    const spin = 'const spin = () => Promise.resolve().then(spin); export async function validate() { await spin() }';
    await expect(sandboxOf().call(spin, 'validate', [{}])).rejects.toThrow(/exceeded its CPU budget/);
    const grow = 'export function validate() { const a = [1]; for (const x of a) a.push(x + 1); }';
    await expect(sandboxOf().call(grow, 'validate', [{}])).rejects.toThrow(/exceeded its CPU budget/);
    await stillServing();
  });

  it('cuts off unbounded allocation before it takes the runtime down', async () => {
    const source = 'export function validate() { const hoard = []; for (;;) hoard.push(new Array(1e6).fill(7)); }';
    await expect(sandboxOf().call(source, 'validate', [{}])).rejects.toThrow(/exceeded its CPU budget/);
    await stillServing();
  });

  it('reports a throw with its message, and a script that never answers as a timeout', async () => {
    await expect(sandboxOf().call('export function validate() { throw new TypeError("amount missing") }', 'validate', [{}])).rejects.toThrow(
      'TypeError: amount missing',
    );
    const sleepy = 'export async function validate() { await new Promise((resolve) => setTimeout(resolve, 5000)) }';
    await expect(sandboxOf().call(sleepy, 'validate', [{}], { timeoutMs: 200 })).rejects.toThrow(/did not answer within 200 ms/);
    // a promise that can never settle is noticed by the runtime itself
    const stuck = 'export function validate() { return new Promise(() => {}) }';
    await expect(sandboxOf().call(stuck, 'validate', [{}], { timeoutMs: 2000 })).rejects.toThrow(/hung/);
    await stillServing();
  });

  it('refuses results that are not JSON or are too large', async () => {
    const sandbox = sandboxOf();
    await expect(sandbox.call('export function transform() { return 1n }', 'transform', [{}])).rejects.toThrow(/not JSON/);
    await expect(sandbox.call('export function transform() { const a = {}; a.a = a; return a }', 'transform', [{}])).rejects.toThrow(/not JSON/);
    await expect(sandbox.call("export function transform() { return 'x'.repeat(2 * 1024 * 1024) }", 'transform', [{}])).rejects.toThrow(/larger than/);
    expect(await sandbox.call('export function transform() {}', 'transform', [{}])).toBeUndefined();
    await stillServing();
  });

  it('gives scripts no network and no way to switch the guard off', async () => {
    const net = 'export async function validate() { await fetch("https://example.com/") }';
    await expect(sandboxOf().call(net, 'validate', [{}])).rejects.toThrow(/not permitted to access the internet/);
    const tamper = "import { takeControl } from './guard.js'; const c = takeControl(); c.begin(1e12); export function validate() { while (true) {} }";
    expect(await sandboxOf().inspect(tamper)).toMatchObject({ ok: false, stage: 'parse', problem: { detail: expect.stringContaining('No such module') } });
    await expect(sandboxOf().call(tamper, 'validate', [{}])).rejects.toThrow(/tampered/);
    await stillServing();
  });

  it('cuts off loops in scripts whose syntax a tokenizer without a parser misreads', async () => {
    const spinning = [
      'const o = { class: 1 };\nexport function validate() { while (true) {} }',
      'export function validate(x) { x?.class; if (x) { for (;;) {} } }',
      'export function validate() { const a = {}/1; for (;;) {} const b = a/2; }',
      "const re = /for (;;) {/;\nexport function validate() { if (/}/.test('}')) while (true) {} }",
      'export function validate() { return `a${(() => { for (;;) {} })()}b` }',
      '/* { */ export function validate() { // }\n  while (true) {} }',
      'class Spin { m() { for (;;); } }\nexport function validate() { new Spin().m() }',
      'export function validate() { let i = 0; do i++; while (true) }',
      'export function validate() { outer: for (;;) { for (;;) continue outer; } }',
      'const o = { get v() { for (const x of [1]) while (x) {} } };\nexport function validate() { return o.v }',
      'function* ones() { for (;;) yield 1 }\nexport function validate() { for (const x of ones()) if (x) continue; }',
    ];
    for (const source of spinning) await expect(sandboxOf().call(source, 'validate', [{}]), source).rejects.toThrow(/exceeded its CPU budget/);
    const inspected = await sandboxOf().inspect('class Boot { static { while (true) {} } }\nexport function validate() {}');
    expect(inspected).toMatchObject({ ok: false, stage: 'load', problem: { detail: expect.stringContaining('CPU budget'), line: 1 } });
    await stillServing();
  });

  it('answers a catastrophic regular expression without stalling other tenants', async () => {
    const source = "export function validate() { return { ok: /(a+)+$/.test('a'.repeat(40) + 'b') } }";
    const started = Date.now();
    const [bomb] = await Promise.all([sandboxOf().call(source, 'validate', [{}], { timeoutMs: 5_000 }), stillServing()]);
    expect(bomb).toEqual({ ok: false });
    expect(Date.now() - started).toBeLessThan(5_000);
    await stillServing();
  });

  it('refuses a huge allocation by a single builtin call and keeps serving', async () => {
    const bombs = [
      'export function validate() { return new Array(2 ** 31).fill(0).length }',
      'export function validate() { return Array.from({ length: 1e9 }).length }',
      'export function validate() { const a = []; a.length = 2 ** 31; a.fill(1) }',
      "export function validate() { return 'abcd'.repeat(2 ** 28).length }",
      'export function validate() { return new Float64Array(2 ** 28).length }',
      'export function validate() { return new ArrayBuffer(2 ** 31).byteLength }',
    ];
    for (const source of bombs) await expect(sandboxOf().call(source, 'validate', [{}]), source).rejects.toThrow(/RangeError: the sandbox refuses/);
    const modest = 'export function validate() { return { ok: new Array(1e5).fill(1).length + new Uint8Array(1e6).length === 1100000 } }';
    expect(await sandboxOf().call(modest, 'validate', [{}])).toEqual({ ok: true });
    await stillServing();
  });

  it('refuses code built from strings or bytes while the module loads, which the guard could not reach', async () => {
    const wasm = 'new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0])';
    const builders = [
      "const spin = new Function('while (true) {}');\nexport function validate() { spin() }",
      "const spin = eval('() => { while (true) {} }');\nexport function validate() { spin() }",
      "const spin = (0, eval)('() => { while (true) {} }');\nexport function validate() { spin() }",
      "const spin = (function () {}).constructor('while (true) {}');\nexport function validate() { spin() }",
      "const G = Object.getPrototypeOf(function* () {}).constructor;\nconst spin = new G('while (true) yield');\nexport function validate() { spin().next() }",
      "const A = Object.getPrototypeOf(async () => {}).constructor;\nconst spin = A('while (true) {}');\nexport function validate() { return spin() }",
      `const m = new WebAssembly.Module(${wasm});\nexport function validate() {}`,
    ];
    for (const source of builders) {
      expect(await sandboxOf().inspect(source), source).toMatchObject({
        ok: false,
        stage: 'load',
        problem: { detail: expect.stringContaining('EvalError: the sandbox does not run code built at run time'), line: /^const [GA] =/.test(source) ? 2 : 1 },
      });
    }
    const ordinary =
      'const f = function () {}; export function validate() { return { ok: f instanceof Function && typeof Function.prototype.call === "function" && f.call(null) === undefined } }';
    expect(await sandboxOf().call(ordinary, 'validate', [{}])).toEqual({ ok: true });
    await stillServing();
  });

  it('stops an endless loop in module code at load, with its position', async () => {
    const inspected = await sandboxOf().inspect('const ready = true;\nwhile (ready) {}\nexport function validate() { return { ok: true } }');
    expect(inspected).toMatchObject({ ok: false, stage: 'load', problem: { detail: expect.stringContaining('CPU budget'), line: 2 } });
    await stillServing();
  });

  it('keeps module state per tenant, even for identical source', async () => {
    const counter = 'let seen = 0; export function transform() { return ++seen }';
    const a = sandboxOf();
    const b = sandboxOf();
    expect([await a.call(counter, 'transform', [{}]), await a.call(counter, 'transform', [{}]), await a.call(counter, 'transform', [{}])]).toEqual([1, 2, 3]);
    expect(await b.call(counter, 'transform', [{}])).toBe(1);
    expect(await a.call(counter, 'transform', [{}])).toBe(4);
  });

  it('cannot reach another tenant through globals', async () => {
    const source = "export function transform(e) { const before = globalThis.secret ?? 'nothing'; if (e.secret) globalThis.secret = e.secret; return before }";
    const a = sandboxOf();
    expect(await a.call(source, 'transform', [{ secret: 'for-a-only' }])).toBe('nothing');
    expect(await a.call(source, 'transform', [{}])).toBe('for-a-only');
    expect(await sandboxOf().call(source, 'transform', [{}])).toBe('nothing');
  });
});
