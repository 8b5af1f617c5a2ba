import { env, exports } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { requestSandboxes } from '../../src/plugins/sandbox';

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
    await expect(sandboxOf().call('export function validate() { throw new TypeError("amount missing") }', 'validate', [{}])).rejects.toThrow('TypeError: amount missing');
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
