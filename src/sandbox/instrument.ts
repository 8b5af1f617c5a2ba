/**
 * Rewrites a tenant module so that it cannot run away locally. workerd (wrangler dev, the tests) has no
 * CPU or memory limits and runs every isolate on one thread: a `while (true) {}` in a loaded isolate
 * would freeze the whole runtime. Cloudflare enforces `limits.cpuMs` and the 128 MB isolate limit in
 * production; this rewrite is the local stand-in, and harmless defence in depth there.
 *
 * The module is parsed with acorn (ES module, latest syntax), so loops and function bodies are facts
 * of the syntax tree. What is inserted (never a line break, so line numbers stay those of the source):
 * - `__sy$tick();` first in the body of every loop (`for`, `for…in`, `for…of`, `for await`, `while`,
 *   `do…while`); a body that is not a block becomes `{__sy$tick(); body}`, which keeps labels,
 *   `continue` and `break` meaning what they meant. Every iteration runs its body, so every
 *   iteration ticks, including a `for…of` over a collection that grows while it is iterated;
 * - `__sy$tick();` first in every function body (declarations, expressions, methods, accessors,
 *   constructors, generators, async functions, arrows) and every class `static {}` block, and
 *   `(__sy$tick(), body)` around the body of an expression-bodied arrow;
 * - one import of the tick from `./guard.js` at the top (after a `#!` line).
 * A tick throws once the call's budget is spent (see `modules.ts`), and keeps throwing, so neither a
 * loop nor a catch around it can make progress. Identifiers starting with `__sy$` are refused, so a
 * script cannot shadow the guard. Not covered: a single builtin doing huge work (a catastrophic
 * regular expression, a huge allocation); see `modules.ts` and the README for what bounds those.
 */
import { parse, tokTypes, type AnyNode, type Node, type Options, type Program } from 'acorn';
import { full } from 'acorn-walk';

export const RESERVED_PREFIX = '__sy$';
const GUARD_IMPORT = 'import { tick as __sy$tick } from "./guard.js"; ';
const TICK = '__sy$tick();';
const PARSE_OPTIONS: Options = { ecmaVersion: 'latest', sourceType: 'module', allowHashBang: true };

export interface Position {
  line: number;
  column: number;
}

export interface Instrumented {
  code: string;
  /** Maps a 1-based line and column in `code` back to the tenant's source. */
  toOriginal(position: Position): Position;
}

/** The source does not parse as an ES module, or uses a name reserved for the sandbox. */
export class ScriptSyntaxError extends Error {
  readonly offset: number;
  constructor(message: string, offset: number) {
    super(message);
    this.name = 'SyntaxError';
    this.offset = offset;
  }
}

/**
 * Text put in at an offset of the source. At one offset, closers go before openers (what ends there
 * ends before what starts there), and of two closers the one of the inner node (the later `node`
 * start) goes first.
 */
interface Insertion {
  at: number;
  text: string;
  close: boolean;
  node: number;
}

export function instrument(source: string): Instrumented {
  const program = parseModule(source);
  const insertions: Insertion[] = [{ at: source.startsWith('#!') ? afterFirstLine(source) : 0, text: GUARD_IMPORT, close: false, node: 0 }];
  const open = (at: number, text: string, node: Node) => insertions.push({ at, text, close: false, node: node.start });
  const close = (at: number, text: string, node: Node) => insertions.push({ at, text, close: true, node: node.start });
  const guardStatement = (body: AnyNode) => {
    if (body.type === 'BlockStatement') return open(body.start + 1, TICK, body);
    open(body.start, `{${TICK} `, body);
    close(body.end, '}', body);
  };

  walkAll(program, (node) => {
    switch (node.type) {
      case 'ForStatement':
      case 'ForInStatement':
      case 'ForOfStatement':
      case 'WhileStatement':
      case 'DoWhileStatement':
        return guardStatement(node.body);
      case 'FunctionDeclaration':
      case 'FunctionExpression':
      case 'ArrowFunctionExpression':
        if (node.body.type === 'BlockStatement') return open(node.body.start + 1, TICK, node.body);
        open(node.body.start, '(__sy$tick(), ', node.body);
        return close(node.body.end, ')', node.body);
      case 'StaticBlock':
        return open(openingBrace(source, node.start + 'static'.length) + 1, TICK, node);
    }
  });
  return apply(source, insertions);
}

/** acorn-walk over every node; a node type it does not know fails closed instead of going unguarded. */
function walkAll(program: Program, visit: (node: AnyNode) => void): void {
  try {
    full(program, visit);
  } catch (error) {
    if (error instanceof RangeError) throw tooDeep();
    if (!(error instanceof TypeError)) throw error;
    throw new ScriptSyntaxError(`the sandbox cannot instrument this syntax (${error.message})`, 0);
  }
}

function parseModule(source: string): Program {
  let reserved: { name: string; start: number } | undefined;
  const onToken: Options['onToken'] = (token) => {
    if (reserved || (token.type !== tokTypes.name && token.type !== tokTypes.privateId)) return;
    // acorn's tokens carry the decoded name (`\u005f_sy$x` reads `__sy$x`), though its typings omit it
    const name = String((token as typeof token & { value?: unknown }).value);
    if (name.startsWith(RESERVED_PREFIX)) reserved = { name, start: token.start };
  };
  let program: Program;
  try {
    program = parse(source, { ...PARSE_OPTIONS, onToken });
  } catch (error) {
    if (error instanceof RangeError) throw tooDeep();
    const pos = (error as { pos?: unknown }).pos;
    if (!(error instanceof SyntaxError) || typeof pos !== 'number') throw error;
    throw new ScriptSyntaxError(error.message.replace(/ \(\d+:\d+\)$/, ''), pos);
  }
  if (reserved) throw new ScriptSyntaxError(`${reserved.name}: identifiers starting with ${RESERVED_PREFIX} are reserved for the sandbox`, reserved.start);
  return program;
}

/** acorn and its walker recurse; a stack overflow there is the script's nesting, not our fault. */
function tooDeep(): ScriptSyntaxError {
  return new ScriptSyntaxError('the script nests expressions or statements too deeply to be instrumented', 0);
}

/** Offset of the `{` that follows `from`, past whitespace and comments (a `static {` block). */
function openingBrace(source: string, from: number): number {
  const trivia = /(?:\s+|\/\/[^\n\r\u2028\u2029]*|\/\*[\s\S]*?\*\/)*/y;
  trivia.lastIndex = from;
  trivia.exec(source);
  if (source[trivia.lastIndex] !== '{') throw new Error(`expected { of a static block at ${trivia.lastIndex}`);
  return trivia.lastIndex;
}

function afterFirstLine(source: string): number {
  const end = source.search(/\r\n|[\n\r\u2028\u2029]/);
  if (end === -1) return source.length;
  return end + (source.startsWith('\r\n', end) ? 2 : 1);
}

function apply(source: string, insertions: Insertion[]): Instrumented {
  const sorted = insertions.sort((a, b) => a.at - b.at || Number(b.close) - Number(a.close) || (a.close ? b.node - a.node : a.node - b.node));
  const parts: string[] = [];
  let from = 0;
  for (const ins of sorted) {
    parts.push(source.slice(from, ins.at), ins.text);
    from = ins.at;
  }
  parts.push(source.slice(from));
  const code = parts.join('');
  let codeLines: number[] | undefined;
  let sourceLines: number[] | undefined;
  const toOriginal = ({ line, column }: Position): Position => {
    codeLines ??= lineStarts(code);
    sourceLines ??= lineStarts(source);
    const out = (codeLines[Math.min(Math.max(line, 1), codeLines.length) - 1] ?? 0) + Math.max(column, 1) - 1;
    let shift = 0;
    let original = -1;
    for (const ins of sorted) {
      const start = ins.at + shift;
      if (out < start) break;
      // a position inside inserted text is reported at the place it was inserted
      if (out < start + ins.text.length) {
        original = ins.at;
        break;
      }
      shift += ins.text.length;
    }
    return positionIn(sourceLines, original === -1 ? out - shift : original);
  };
  return { code, toOriginal };
}

const LINE_BREAK = /\r\n|[\n\r\u2028\u2029]/g;

function lineStarts(text: string): number[] {
  const starts = [0];
  for (const m of text.matchAll(LINE_BREAK)) starts.push(m.index + m[0].length);
  return starts;
}

/** 1-based line and column of an offset. */
export function positionOf(text: string, offset: number): Position {
  return positionIn(lineStarts(text), offset);
}

function positionIn(starts: number[], offset: number): Position {
  let low = 0;
  let high = starts.length - 1;
  while (low < high) {
    const mid = (low + high + 1) >> 1;
    if (starts[mid]! <= offset) low = mid;
    else high = mid - 1;
  }
  return { line: low + 1, column: offset - starts[low]! + 1 };
}
