/**
 * Rewrites a tenant module so that it cannot run away locally. workerd (wrangler dev, the tests) has no
 * CPU or memory limits and runs every isolate on one thread: a `while (true) {}` in a loaded isolate
 * would freeze the whole runtime. Cloudflare enforces `limits.cpuMs` and the 128 MB isolate limit in
 * production; this rewrite is the local stand-in, and harmless defence in depth there.
 *
 * What is inserted (never a line break, so line numbers stay those of the tenant's text):
 * - `__sy$tick()` in every `while (…)` and C-style `for (…;…;…)` condition, at the top of every
 *   function body with braces, and as `(__sy$tick(), body)` around every concise arrow body;
 * - `__sy$iter(…)` / `__sy$aiter(…)` around the iterable of `for … of` / `for await … of`, since a
 *   collection that grows while it is iterated loops without calling any function;
 * - one import of those from `./guard.js` at the top.
 * A tick throws once the call's budget is spent (see `modules.ts`), and keeps throwing, so neither a
 * loop nor a catch around it can make progress. Identifiers starting with `__sy$` are refused, so a
 * script cannot shadow the guard. Not covered: a single builtin doing huge work (a catastrophic
 * regular expression, `Array.from({ length: 1e9 })`); there only the platform's limits help.
 */
import { tokenize, TokenizeError, type Token } from './tokenize';

export const RESERVED_PREFIX = '__sy$';
const GUARD_IMPORT = 'import { tick as __sy$tick, iter as __sy$iter, aiter as __sy$aiter } from "./guard.js"; ';
const NOT_EXPRESSION_END = new Set(['typeof', 'instanceof', 'in', 'of', 'new', 'delete', 'void', 'throw', 'return', 'yield', 'await', 'case', 'do', 'else', 'extends']);
const CONTINUES = new Set([
  '(', '[', '.', '?.', '?', ':', '=>', ',', ';', '=', '==', '===', '!=', '!==', '<', '>', '<=', '>=', '+', '-', '*', '/', '%', '**', '&', '|', '^', '<<', '>>', '>>>',
  '&&', '||', '??', '+=', '-=', '*=', '/=', '%=', '**=', '&=', '|=', '^=', '<<=', '>>=', '>>>=', '&&=', '||=', '??=',
]);
const BLOCK_OWNERS = new Set(['if', 'while', 'for', 'catch', 'with', 'switch']);

export interface Position {
  line: number;
  column: number;
}

export interface Instrumented {
  code: string;
  /** Maps a 1-based line and column in `code` back to the tenant's source. */
  toOriginal(position: Position): Position;
}

export { TokenizeError };

interface Insertion {
  at: number;
  text: string;
}

export function instrument(source: string): Instrumented {
  const tokens = tokenize(source);
  const reserved = tokens.find((t) => (t.kind === 'name' || t.kind === 'private') && t.value.replace(/^#/, '').startsWith(RESERVED_PREFIX));
  if (reserved) throw new TokenizeError(`identifiers starting with ${RESERVED_PREFIX} are reserved for the sandbox`, reserved.start);
  const { match, parent } = structure(tokens);
  const classBodies = findClassBodies(tokens, match);
  const insertions: Insertion[] = [{ at: source.startsWith('#!') ? afterFirstLine(source) : 0, text: GUARD_IMPORT }];
  const is = (k: number, kind: Token['kind'], value?: string) => tokens[k]?.kind === kind && (value === undefined || tokens[k]!.value === value);
  const memberAccess = (k: number) => is(k - 1, 'punct', '.') || is(k - 1, 'punct', '?.');
  const inClassBody = (k: number) => classBodies.has(parent[k]!);

  for (let k = 0; k < tokens.length; k++) {
    const token = tokens[k]!;
    if (token.kind === 'name' && token.value === 'while' && !memberAccess(k) && !inClassBody(k) && is(k + 1, 'punct', '(')) {
      const close = match[k + 1]!;
      if (close > k + 2) insertions.push({ at: tokens[k + 1]!.end, text: '__sy$tick() && (' }, { at: tokens[close]!.start, text: ')' });
    } else if (token.kind === 'name' && token.value === 'for' && !memberAccess(k) && !inClassBody(k)) {
      instrumentFor(tokens, k, match, parent, insertions);
    } else if (token.kind === 'punct' && token.value === '{' && !classBodies.has(k)) {
      if (is(k - 1, 'punct', '=>') || (is(k - 1, 'punct', ')') && isFunctionBody(tokens, match[k - 1]!))) insertions.push({ at: token.end, text: '__sy$tick();' });
    } else if (token.kind === 'punct' && token.value === '=>' && !is(k + 1, 'punct', '{')) {
      const last = conciseBodyEnd(tokens, k);
      if (last > k) insertions.push({ at: token.end, text: ' (__sy$tick(), ' }, { at: tokens[last]!.end, text: ')' });
    }
  }
  return apply(source, insertions);
}

/** `(` … `)` before a `{`: a function's parameters unless the parenthesis belongs to a statement. */
function isFunctionBody(tokens: Token[], openParen: number): boolean {
  const owner = tokens[openParen - 1];
  if (owner?.kind !== 'name') return true;
  if (BLOCK_OWNERS.has(owner.value)) return false;
  return !(owner.value === 'await' && tokens[openParen - 2]?.value === 'for');
}

function instrumentFor(tokens: Token[], k: number, match: number[], parent: number[], insertions: Insertion[]): void {
  let open = k + 1;
  const awaits = tokens[open]?.kind === 'name' && tokens[open]!.value === 'await';
  if (awaits) open++;
  if (tokens[open]?.value !== '(' || tokens[open]!.kind !== 'punct') return;
  const close = match[open]!;
  const top: number[] = [];
  for (let j = open + 1; j < close; j++) if (parent[j] === open) top.push(j);
  const semicolons = top.filter((j) => tokens[j]!.kind === 'punct' && tokens[j]!.value === ';');
  if (semicolons.length === 2) {
    const [first, second] = semicolons as [number, number];
    if (second === first + 1) insertions.push({ at: tokens[second]!.start, text: ' __sy$tick()' });
    else insertions.push({ at: tokens[first]!.end, text: ' __sy$tick() && (' }, { at: tokens[second]!.start, text: ')' });
    return;
  }
  if (semicolons.length > 0) return;
  const of = top.find((j, n) => tokens[j]!.kind === 'name' && tokens[j]!.value === 'of' && n > 0 && !['const', 'let', 'var', '.', '?.'].includes(tokens[top[n - 1]!]!.value));
  if (of !== undefined) insertions.push({ at: tokens[of]!.end, text: awaits ? ' __sy$aiter(' : ' __sy$iter(' }, { at: tokens[close]!.start, text: ')' });
}

/** Index of the last token of the concise arrow body that starts after `arrow`. */
function conciseBodyEnd(tokens: Token[], arrow: number): number {
  let depth = 0;
  let ternaries = 0;
  let last = arrow;
  for (let j = arrow + 1; j < tokens.length; j++) {
    const t = tokens[j]!;
    const punct = t.kind === 'punct' ? t.value : '';
    if (depth === 0) {
      if (j > arrow + 1 && t.nl && endsExpression(tokens[j - 1]!) && !continues(t)) break;
      if (punct === ',' || punct === ';' || punct === ')' || punct === ']' || punct === '}' || t.kind === 'tpl-tail' || t.kind === 'tpl-middle') break;
      if (punct === '?') ternaries++;
      if (punct === ':' && ternaries-- === 0) break;
    }
    if (punct === '(' || punct === '[' || punct === '{' || t.kind === 'tpl-head') depth++;
    else if (punct === ')' || punct === ']' || punct === '}' || t.kind === 'tpl-tail') depth--;
    last = j;
  }
  return last;
}

function endsExpression(t: Token): boolean {
  if (t.kind === 'name') return !NOT_EXPRESSION_END.has(t.value);
  if (t.kind === 'punct') return [')', ']', '}', '++', '--'].includes(t.value);
  return t.kind !== 'tpl-head' && t.kind !== 'tpl-middle';
}

function continues(t: Token): boolean {
  if (t.kind === 'punct') return CONTINUES.has(t.value);
  if (t.kind === 'name') return t.value === 'in' || t.value === 'instanceof';
  return t.kind === 'tpl' || t.kind === 'tpl-head';
}

/** Matching bracket of every bracket token, and the innermost open bracket around every token. */
function structure(tokens: Token[]): { match: number[]; parent: number[] } {
  const match: number[] = [];
  const parent: number[] = [];
  const stack: number[] = [];
  tokens.forEach((t, k) => {
    parent[k] = stack.at(-1) ?? -1;
    const v = t.kind === 'punct' ? t.value : '';
    if (v === '(' || v === '[' || v === '{' || t.kind === 'tpl-head') stack.push(k);
    else if (v === ')' || v === ']' || v === '}' || t.kind === 'tpl-tail' || t.kind === 'tpl-middle') {
      const open = stack.pop();
      if (open === undefined) throw new TokenizeError(`Unexpected token '${t.value}'`, t.start);
      match[open] = k;
      match[k] = open;
      if (t.kind === 'tpl-middle') stack.push(k);
    }
  });
  const unclosed = stack.pop();
  if (unclosed !== undefined) throw new TokenizeError('Unexpected end of input', tokens[unclosed]!.start);
  return { match, parent };
}

function findClassBodies(tokens: Token[], match: number[]): Set<number> {
  const bodies = new Set<number>();
  tokens.forEach((t, k) => {
    if (t.kind !== 'name' || t.value !== 'class' || tokens[k - 1]?.value === '.') return;
    for (let j = k + 1; j < tokens.length; j++) {
      const u = tokens[j]!;
      if (u.kind === 'punct' && u.value === '{') {
        bodies.add(j);
        return;
      }
      if ((u.kind === 'punct' && (u.value === '(' || u.value === '[')) || u.kind === 'tpl-head') j = match[j] ?? j;
    }
  });
  return bodies;
}

function afterFirstLine(source: string): number {
  const end = source.search(/\r\n|[\n\r\u2028\u2029]/);
  if (end === -1) return source.length;
  return end + (source.startsWith('\r\n', end) ? 2 : 1);
}

function apply(source: string, insertions: Insertion[]): Instrumented {
  const sorted = insertions.map((ins, order) => ({ ...ins, order })).sort((a, b) => a.at - b.at || a.order - b.order);
  let code = '';
  let from = 0;
  for (const ins of sorted) {
    code += source.slice(from, ins.at) + ins.text;
    from = ins.at;
  }
  code += source.slice(from);
  const toOriginal = (position: Position): Position => {
    const out = offsetOf(code, position);
    let shift = 0;
    let original = out;
    for (const ins of sorted) {
      const start = ins.at + shift;
      if (out < start) break;
      if (out < start + ins.text.length) {
        original = ins.at;
        shift = Number.NaN;
        break;
      }
      shift += ins.text.length;
    }
    return positionOf(source, Number.isNaN(shift) ? original : out - shift);
  };
  return { code, toOriginal };
}

const LINE_BREAK = /\r\n|[\n\r\u2028\u2029]/g;

function lineStarts(text: string): number[] {
  const starts = [0];
  for (const m of text.matchAll(LINE_BREAK)) starts.push(m.index + m[0].length);
  return starts;
}

function offsetOf(text: string, { line, column }: Position): number {
  const starts = lineStarts(text);
  return (starts[Math.min(Math.max(line, 1), starts.length) - 1] ?? 0) + Math.max(column, 1) - 1;
}

/** 1-based line and column of an offset. */
export function positionOf(text: string, offset: number): Position {
  const starts = lineStarts(text);
  let line = 1;
  while (line < starts.length && starts[line]! <= offset) line++;
  return { line, column: offset - starts[line - 1]! + 1 };
}
