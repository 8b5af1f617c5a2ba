/**
 * Differential test of the tenant-script instrumentation over real JavaScript from node_modules (runs
 * in the node project: it reads files). Every loop and function body of the original must carry the
 * guard in the output, the output must parse, and every identifier must map back to its place.
 * The instrumented acorn, run with a counting guard, must parse the corpus exactly as acorn does.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as acorn from 'acorn';
import { afterAll, describe, expect, it } from 'vitest';
import { instrument } from '../../src/sandbox/instrument.ts';

const CORPUS = [
  'acorn/dist/acorn.mjs',
  'acorn-walk/dist/walk.mjs',
  'hono/dist/hono-base.js',
  'hono/dist/compose.js',
  'hono/dist/context.js',
  'hono/dist/router/reg-exp-router/router.js',
  'hono/dist/utils/url.js',
  'hono/dist/utils/body.js',
  'hono/dist/utils/html.js',
  'hono/dist/jsx/dom/render.js',
  'zod/v4/core/regexes.js',
  'zod/v4/core/schemas.js',
  'zod/v4/core/util.js',
  'jose/dist/webapi/jwks/remote.js',
  'jose/dist/webapi/lib/jwt_claims_set.js',
  '@cfworker/json-schema/dist/esm/validate.js',
  '@cfworker/json-schema/dist/esm/format.js',
  // scripts (UMD, CommonJS) that also parse as modules
  'acorn-walk/dist/walk.js',
  'hono/dist/cjs/hono-base.js',
  '@cfworker/json-schema/dist/commonjs/validate.js',
  're2js/build/index.cjs',
];
const LOOPS = new Set(['ForStatement', 'ForInStatement', 'ForOfStatement', 'WhileStatement', 'DoWhileStatement']);
const FUNCTIONS = new Set(['FunctionDeclaration', 'FunctionExpression', 'ArrowFunctionExpression', 'StaticBlock']);
const GUARD = '__sy$tick';

type AstNode = { type: string; start: number; end: number; loc?: acorn.SourceLocation; [key: string]: unknown };

const read = (file: string) => readFileSync(join(process.cwd(), 'node_modules', file), 'utf8');
const parse = (code: string) => acorn.parse(code, { ecmaVersion: 'latest', sourceType: 'module', locations: true }) as unknown as AstNode;

/** Every node, found by walking all properties (not acorn-walk, so the test does not share its blind spots). */
function nodes(root: AstNode): AstNode[] {
  const out: AstNode[] = [];
  const visit = (value: unknown): void => {
    if (Array.isArray(value)) {
      for (const item of value) visit(item);
      return;
    }
    if (!value || typeof value !== 'object') return;
    const node = value as AstNode;
    if (typeof node.type === 'string') out.push(node);
    for (const [key, child] of Object.entries(node)) if (key !== 'loc') visit(child);
  };
  visit(root);
  return out;
}

const isGuardCall = (node: unknown) => {
  const call = node as AstNode | undefined;
  const callee = call?.callee as AstNode | undefined;
  return call?.type === 'CallExpression' && callee?.type === 'Identifier' && callee.name === GUARD && (call.arguments as unknown[]).length === 0;
};
const startsWithGuard = (statements: unknown) => {
  const first = (statements as AstNode[])[0];
  return first?.type === 'ExpressionStatement' && isGuardCall(first.expression);
};

/** Whether the loop or function's body begins with the guard call. */
function guarded(node: AstNode): boolean {
  if (node.type === 'StaticBlock') return startsWithGuard(node.body);
  const body = node.body as AstNode;
  if (body.type === 'BlockStatement') return startsWithGuard(body.body);
  return node.type === 'ArrowFunctionExpression' && body.type === 'SequenceExpression' && isGuardCall((body.expressions as AstNode[])[0]);
}

const tmp = mkdtempSync(join(tmpdir(), 'sy-instrument-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('script instrumentation over a corpus of real modules', () => {
  it.each(CORPUS)('guards every loop and function body of %s, and maps every identifier back', (file) => {
    const source = read(file);
    const started = performance.now();
    const result = instrument(source);
    const ms = performance.now() - started;

    const before = nodes(parse(source));
    const after = nodes(parse(result.code));
    const loops = before.filter((n) => LOOPS.has(n.type)).length;
    const functions = before.filter((n) => FUNCTIONS.has(n.type)).length;
    const guardedAfter = after.filter((n) => LOOPS.has(n.type) || FUNCTIONS.has(n.type));
    expect(loops + functions).toBeGreaterThan(0);
    expect(after.filter((n) => LOOPS.has(n.type)).length).toBe(loops);
    expect(after.filter((n) => FUNCTIONS.has(n.type)).length).toBe(functions);
    expect(guardedAfter.filter((n) => !guarded(n)).map((n) => `${n.type} at ${n.loc?.start.line}`)).toEqual([]);
    expect(after.filter(isGuardCall).length).toBe(loops + functions);
    expect(result.code.split('\n').length).toBe(source.split('\n').length);

    const names = (list: AstNode[]) => list.filter((n) => n.type === 'Identifier' && n.name !== GUARD);
    const original = names(before);
    const [guardImport, ...rest] = parse(result.code).body as AstNode[];
    expect(guardImport).toMatchObject({ type: 'ImportDeclaration', source: { value: './guard.js' } });
    const moved = names(nodes({ type: 'Program', start: 0, end: 0, body: rest }));
    expect(moved.map((n) => n.name)).toEqual(original.map((n) => n.name));
    moved.forEach((n, k) => {
      const at = { line: n.loc!.start.line, column: n.loc!.start.column + 1 };
      expect(result.toOriginal(at)).toEqual({ line: original[k]!.loc!.start.line, column: original[k]!.loc!.start.column + 1 });
    });
    console.log(`[instrument] ${file}: ${source.length} chars, ${loops} loops, ${functions} functions, ${ms.toFixed(2)} ms`);
  });

  it('runs instrumented acorn to the same syntax trees as acorn, ticking all the way', async () => {
    writeFileSync(join(tmp, 'guard.js'), 'export let ticks = 0; export function tick() { ticks++; return true; }\n');
    writeFileSync(join(tmp, 'acorn.mjs'), instrument(read('acorn/dist/acorn.mjs')).code);
    const guard = (await import(pathToFileURL(join(tmp, 'guard.js')).href)) as { ticks: number };
    const guardedAcorn = (await import(pathToFileURL(join(tmp, 'acorn.mjs')).href)) as typeof acorn;
    for (const file of CORPUS) {
      const source = read(file);
      const options = { ecmaVersion: 'latest', sourceType: 'module', locations: true } as const;
      const json = (tree: unknown) => JSON.stringify(tree, (_, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));
      expect(json(guardedAcorn.parse(source, options)), file).toBe(json(acorn.parse(source, options)));
    }
    expect(guard.ticks).toBeGreaterThan(100_000);
  });

  it('instruments a typical tenant script in under 5 ms once warm, and the largest corpus file in under a second', () => {
    const typical = `export function validate(event) {
  const errors = [];
  if (typeof event.data?.amount !== 'number' || event.data.amount < 0) errors.push({ pointer: '/data/amount', detail: 'amount must be a positive number' });
  if (!/^[A-Z]{3}$/.test(event.data?.currency ?? '')) errors.push({ pointer: '/data/currency', detail: 'currency must be ISO 4217' });
  for (const [k, v] of Object.entries(event.data ?? {})) if (v === null) errors.push({ pointer: '/data/' + k, detail: 'null' });
  return { errors };
}`;
    for (let i = 0; i < 50; i++) instrument(typical);
    const runs = 500;
    const started = performance.now();
    for (let i = 0; i < runs; i++) instrument(typical);
    const perCall = (performance.now() - started) / runs;
    console.log(`[instrument] typical ${typical.length}-char validator: ${(perCall * 1000).toFixed(0)} µs per instrumentation`);
    expect(perCall).toBeLessThan(5);

    const largest = CORPUS.map(read).sort((a, b) => b.length - a.length)[0]!;
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const at = performance.now();
      instrument(largest);
      times.push(performance.now() - at);
    }
    const median = times.sort((a, b) => a - b)[2]!;
    console.log(`[instrument] largest corpus file (${largest.length} chars): ${median.toFixed(1)} ms median of 5`);
    expect(median).toBeLessThan(1_000);
  });
});
