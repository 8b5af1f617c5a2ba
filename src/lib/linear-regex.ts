/**
 * Tenant-supplied regular expressions, run in linear time. A pattern written in ECMAScript syntax
 * (the `u` flag, as JSON Schema asks) is translated to RE2 syntax with the same meaning and matched
 * by `re2js`, whose automata never backtrack: `^(a+)+$` costs one pass over the input, not 2^n.
 *
 * The translation keeps ECMAScript's meaning where the two syntaxes differ: `.` excludes the four
 * line terminators, `\s` is Unicode white space, `[]` matches nothing and `[^]` anything. What RE2
 * cannot run in linear time is refused with a reason: backreferences (`\1`, `\k<name>`), lookahead
 * and lookbehind, and inline modifiers. `\p{…}` takes a general category (`L`, `Lu`, `Nd`, …) or
 * `Script=Name`. Counted repetition is capped at 1000 by RE2, the pattern at `MAX_PATTERN_CHARS`.
 */
import { RE2JS } from 're2js';
import { errorMessage } from './errors';

export const MAX_PATTERN_CHARS = 1000;
// RE2 program instructions: bounds the automaton each match walks (a 1000-char pattern of plain text is ~1000)
export const MAX_PROGRAM_SIZE = 5000;

/** `size` is the RE2 program size: a match costs at most about size × input length steps (the NFA's bound). */
export type LinearRegex = { ok: true; size: number; test(input: string): boolean } | { ok: false; error: string };

const WHITE_SPACE: ReadonlyArray<readonly [number, number]> = [
  [0x09, 0x0d],
  [0x20, 0x20],
  [0xa0, 0xa0],
  [0x1680, 0x1680],
  [0x2000, 0x200a],
  [0x2028, 0x2029],
  [0x202f, 0x202f],
  [0x205f, 0x205f],
  [0x3000, 0x3000],
  [0xfeff, 0xfeff],
];
const DIGIT: ReadonlyArray<readonly [number, number]> = [[0x30, 0x39]];
const WORD: ReadonlyArray<readonly [number, number]> = [
  [0x30, 0x39],
  [0x41, 0x5a],
  [0x5f, 0x5f],
  [0x61, 0x7a],
];
const LINE_TERMINATORS: ReadonlyArray<readonly [number, number]> = [
  [0x0a, 0x0a],
  [0x0d, 0x0d],
  [0x2028, 0x2029],
];
const MAX_CODE_POINT = 0x10ffff;
const SYNTAX_CHARACTERS = new Set([...'^$\\.*+?()[]{}|/']);
const CONTROL_ESCAPES: Record<string, number> = { t: 0x09, n: 0x0a, v: 0x0b, f: 0x0c, r: 0x0d };

class Refused extends Error {}

const hex = (cp: number) => `\\x{${cp.toString(16)}}`;
const ranges = (set: ReadonlyArray<readonly [number, number]>) => set.map(([a, b]) => (a === b ? hex(a) : `${hex(a)}-${hex(b)}`)).join('');

function complement(set: ReadonlyArray<readonly [number, number]>): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let next = 0;
  for (const [a, b] of set) {
    if (a > next) out.push([next, a - 1]);
    next = b + 1;
  }
  if (next <= MAX_CODE_POINT) out.push([next, MAX_CODE_POINT]);
  return out;
}

const CLASS_ESCAPES: Record<string, ReadonlyArray<readonly [number, number]>> = {
  d: DIGIT,
  D: complement(DIGIT),
  w: WORD,
  W: complement(WORD),
  s: WHITE_SPACE,
  S: complement(WHITE_SPACE),
};

/** Reads an ECMAScript pattern (already accepted by `new RegExp(source, 'u')`) and writes RE2 syntax. */
class Translator {
  private readonly chars: string[];
  private i = 0;

  constructor(source: string) {
    this.chars = Array.from(source);
  }

  run(): string {
    let out = '';
    while (this.i < this.chars.length) out += this.term();
    return out || '(?:)';
  }

  private peek(offset = 0): string | undefined {
    return this.chars[this.i + offset];
  }

  private next(): string {
    const ch = this.chars[this.i++];
    if (ch === undefined) throw new Refused('the pattern ends in the middle of an escape or class');
    return ch;
  }

  private term(): string {
    const ch = this.next();
    switch (ch) {
      case '\\':
        return this.atomEscape();
      case '.':
        return `[^${ranges(LINE_TERMINATORS)}]`;
      case '[':
        return this.characterClass();
      case '(':
        return this.groupOpening();
      case '{':
        return this.repetition();
      case ')':
      case '|':
      case '^':
      case '$':
      case '*':
      case '+':
      case '?':
        return ch;
      default:
        return this.literal(ch.codePointAt(0)!);
    }
  }

  private literal(cp: number): string {
    return /^[A-Za-z0-9_]$/.test(String.fromCodePoint(cp)) ? String.fromCodePoint(cp) : hex(cp);
  }

  private repetition(): string {
    let body = '';
    while (this.peek() !== '}') body += this.next();
    this.next();
    if (!/^\d+(,\d*)?$/.test(body)) throw new Refused('a "{" must start a quantifier such as {2,5}');
    return `{${body}}`;
  }

  private groupOpening(): string {
    if (this.peek() !== '?') return '(?:';
    const kind = this.peek(1);
    const after = this.peek(2);
    if (kind === ':') {
      this.i += 2;
      return '(?:';
    }
    if (kind === '=' || kind === '!') throw new Refused('lookahead ((?= … ) or (?! … )) is not supported');
    if (kind === '<' && (after === '=' || after === '!')) throw new Refused('lookbehind ((?<= … ) or (?<! … )) is not supported');
    if (kind === '<') {
      while (this.next() !== '>');
      return '(?:';
    }
    throw new Refused('inline modifiers such as (?i: … ) are not supported');
  }

  private atomEscape(): string {
    const ch = this.next();
    if (ch === 'b' || ch === 'B') return `\\${ch}`;
    if (/^[1-9]$/.test(ch) || ch === 'k') throw new Refused('backreferences (\\1, \\k<name>) are not supported');
    const set = CLASS_ESCAPES[ch];
    if (set) return `[${ranges(set)}]`;
    if (ch === 'p' || ch === 'P') return this.property(ch);
    return hex(this.characterEscape(ch));
  }

  /** An escape that stands for one code point (shared by atoms and class members). */
  private characterEscape(ch: string): number {
    const control = CONTROL_ESCAPES[ch];
    if (control !== undefined) return control;
    if (ch === '0') return 0;
    if (ch === 'c') return this.next().charCodeAt(0) % 32;
    if (ch === 'x') return parseInt(this.next() + this.next(), 16);
    if (ch === 'u') return this.unicodeEscape();
    if (SYNTAX_CHARACTERS.has(ch) || ch === '-') return ch.codePointAt(0)!;
    throw new Refused(`the escape \\${ch} is not supported`);
  }

  private unicodeEscape(): number {
    if (this.peek() === '{') {
      this.next();
      let digits = '';
      while (this.peek() !== '}') digits += this.next();
      this.next();
      return parseInt(digits, 16);
    }
    const unit = parseInt(this.chars.slice(this.i, this.i + 4).join(''), 16);
    this.i += 4;
    if (unit >= 0xd800 && unit <= 0xdbff && this.peek() === '\\' && this.peek(1) === 'u' && this.peek(2) !== '{') {
      const low = parseInt(this.chars.slice(this.i + 2, this.i + 6).join(''), 16);
      if (low >= 0xdc00 && low <= 0xdfff) {
        this.i += 6;
        return (unit - 0xd800) * 0x400 + (low - 0xdc00) + 0x10000;
      }
    }
    if (unit >= 0xd800 && unit <= 0xdfff) throw new Refused('a lone surrogate (\\uD800–\\uDFFF) is not supported');
    return unit;
  }

  private property(ch: 'p' | 'P'): string {
    if (this.next() !== '{') throw new Refused(`\\${ch} must be followed by {…}`);
    let name = '';
    while (this.peek() !== '}') name += this.next();
    this.next();
    const script = /^(?:Script|sc)=([A-Za-z_]+)$/.exec(name)?.[1];
    const category = /^(?:(?:General_Category|gc)=)?([A-Z][a-z]?)$/.exec(name)?.[1];
    const re2Name = script ?? category;
    if (!re2Name) throw new Refused(`\\${ch}{${name}} is not supported; use a general category such as \\p{L} or \\p{Script=Greek}`);
    return `\\${ch}{${re2Name}}`;
  }

  private characterClass(): string {
    const negated = this.peek() === '^';
    if (negated) this.i++;
    let body = '';
    while (this.peek() !== ']') {
      const first = this.classAtom();
      if (typeof first === 'number' && this.peek() === '-' && this.peek(1) !== ']' && this.peek(1) !== undefined) {
        this.i++;
        const last = this.classAtom();
        if (typeof last !== 'number') throw new Refused('a class range must be between two characters');
        body += `${hex(first)}-${hex(last)}`;
      } else {
        body += typeof first === 'number' ? hex(first) : first;
      }
    }
    this.next();
    // RE2 reads "[]" and "[^]" differently: ECMAScript's empty class matches nothing, its negation anything
    if (body === '') return negated ? `[${hex(0)}-${hex(MAX_CODE_POINT)}]` : `[^${hex(0)}-${hex(MAX_CODE_POINT)}]`;
    return `[${negated ? '^' : ''}${body}]`;
  }

  /** A code point, or RE2 class contents (for \d, \s, \p{…} and friends). */
  private classAtom(): number | string {
    const ch = this.next();
    if (ch !== '\\') return ch.codePointAt(0)!;
    const escaped = this.next();
    if (escaped === 'b') return 0x08;
    const set = CLASS_ESCAPES[escaped];
    if (set) return ranges(set);
    if (escaped === 'p' || escaped === 'P') return this.property(escaped);
    if (/^[1-9]$/.test(escaped) || escaped === 'k') throw new Refused('backreferences are not supported');
    return this.characterEscape(escaped);
  }
}

/** The RE2 spelling of an ECMAScript pattern, or why it cannot have one. */
export function toRe2Syntax(source: string): { ok: true; re2: string } | { ok: false; error: string } {
  try {
    new RegExp(source, 'u');
  } catch (error) {
    return { ok: false, error: `not a valid regular expression: ${errorMessage(error)}` };
  }
  try {
    return { ok: true, re2: new Translator(source).run() };
  } catch (error) {
    if (error instanceof Refused) return { ok: false, error: error.message };
    throw error;
  }
}

/** Compiles a tenant pattern for linear-time `test` (unanchored, like `RegExp.prototype.test`). */
export function compileLinearRegex(source: string): LinearRegex {
  if (source.length > MAX_PATTERN_CHARS) return { ok: false, error: `a pattern has at most ${MAX_PATTERN_CHARS} characters` };
  const translated = toRe2Syntax(source);
  if (!translated.ok) return translated;
  let compiled: RE2JS;
  try {
    compiled = RE2JS.compile(translated.re2);
  } catch (error) {
    return { ok: false, error: `the pattern cannot run in linear time: ${errorMessage(error)}` };
  }
  const size = compiled.programSize();
  if (size > MAX_PROGRAM_SIZE) return { ok: false, error: 'the pattern is too complex (expand fewer repetitions)' };
  return { ok: true, size, test: (input) => compiled.test(input) };
}
