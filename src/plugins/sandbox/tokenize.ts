/**
 * A JavaScript tokenizer just good enough to instrument tenant scripts (see `instrument.ts`): it
 * knows comments, strings, template literals (with nested `${}`), regular expression literals and
 * punctuators, and where each token sits. Pure; no evaluation.
 *
 * Whether `/` starts a regular expression is decided from the token before it, as every tokenizer
 * without a full parser does: after `)` only when the parenthesis belonged to `if`, `while`, `for` or
 * `with`; after `}` always (a block ending, not an object literal, is the common case).
 */
export type TokenKind = 'name' | 'punct' | 'num' | 'str' | 'regex' | 'private' | 'tpl' | 'tpl-head' | 'tpl-middle' | 'tpl-tail';

export interface Token {
  kind: TokenKind;
  value: string;
  start: number;
  end: number;
  /** A line terminator separates this token from the previous one. */
  nl: boolean;
}

export class TokenizeError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
    this.name = 'SyntaxError';
  }
}

const PUNCTUATORS = [
  '>>>=', '...', '===', '!==', '**=', '<<=', '>>=', '>>>', '&&=', '||=', '??=',
  '=>', '==', '!=', '<=', '>=', '&&', '||', '??', '?.', '++', '--', '+=', '-=', '*=', '/=', '%=', '&=', '|=', '^=', '**', '<<', '>>',
  '{', '}', '(', ')', '[', ']', ';', ',', '<', '>', '+', '-', '*', '/', '%', '&', '|', '^', '!', '~', '?', ':', '=', '.', '@',
];
const REGEX_AFTER_KEYWORD = new Set(['return', 'typeof', 'instanceof', 'in', 'of', 'new', 'delete', 'void', 'throw', 'case', 'do', 'else', 'yield', 'await', 'extends']);
const NUMBER = /(?:0[xXoObB][\da-fA-F_]+|\d[\d_]*(?:\.[\d_]*)?(?:[eE][+-]?[\d_]+)?|\.\d[\d_]*(?:[eE][+-]?[\d_]+)?)n?/y;
const IDENTIFIER_START = /[A-Za-z_$\u0080-\uFFFF]/;
const IDENTIFIER_PART = /[\w$\u0080-\uFFFF\u200c\u200d]/;
const LINE_TERMINATOR = /[\n\r\u2028\u2029]/;

export function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  // what each open `{` or `${` is, so a `}` knows whether it resumes a template
  const braces: ('{' | '${')[] = [];
  // for each open `(`, the token before it, so a `)` knows whether a regular expression may follow
  const parens: (Token | undefined)[] = [];
  const parenOwner = new Map<Token, Token | undefined>();
  let i = source.startsWith('#!') ? lineEnd(source, 0) : 0;
  let nl = false;

  const push = (kind: TokenKind, start: number, end: number) => {
    tokens.push({ kind, value: source.slice(start, end), start, end, nl });
    nl = false;
  };

  while (i < source.length) {
    const c = source[i]!;
    if (LINE_TERMINATOR.test(c)) {
      nl = true;
      i++;
    } else if (/\s/.test(c)) {
      i++;
    } else if (c === '/' && source[i + 1] === '/') {
      i = lineEnd(source, i);
    } else if (c === '/' && source[i + 1] === '*') {
      const end = source.indexOf('*/', i + 2);
      if (end === -1) throw new TokenizeError('Unterminated comment', i);
      if (LINE_TERMINATOR.test(source.slice(i, end))) nl = true;
      i = end + 2;
    } else if (c === '"' || c === "'") {
      const end = scanString(source, i);
      push('str', i, end);
      i = end;
    } else if (c === '`') {
      const end = scanTemplate(source, i + 1);
      push(source[end - 1] === '`' ? 'tpl' : 'tpl-head', i, end);
      if (source[end - 1] !== '`') braces.push('${');
      i = end;
    } else if (c === '}' && braces.at(-1) === '${') {
      braces.pop();
      const end = scanTemplate(source, i + 1);
      push(source[end - 1] === '`' ? 'tpl-tail' : 'tpl-middle', i, end);
      if (source[end - 1] !== '`') braces.push('${');
      i = end;
    } else if (/\d/.test(c) || (c === '.' && /\d/.test(source[i + 1] ?? ''))) {
      NUMBER.lastIndex = i;
      NUMBER.exec(source);
      push('num', i, NUMBER.lastIndex);
      i = NUMBER.lastIndex;
    } else if (IDENTIFIER_START.test(c) || c === '\\' || c === '#') {
      if (c === '\\' || (c === '#' && source[i + 1] === '\\')) throw new TokenizeError('Unicode escapes in identifiers are not supported in scripts', i);
      let end = i + 1;
      while (end < source.length && IDENTIFIER_PART.test(source[end]!)) end++;
      if (source[end] === '\\') throw new TokenizeError('Unicode escapes in identifiers are not supported in scripts', end);
      if (c === '#' && end === i + 1) throw new TokenizeError("Invalid or unexpected token '#'", i);
      push(c === '#' ? 'private' : 'name', i, end);
      i = end;
    } else if (c === '/' && regexAllowed(tokens.at(-1), parenOwner)) {
      const end = scanRegex(source, i);
      push('regex', i, end);
      i = end;
    } else {
      const punct = PUNCTUATORS.find((p) => source.startsWith(p, i) && !(p === '?.' && /\d/.test(source[i + 2] ?? '')));
      if (!punct) throw new TokenizeError(`Invalid or unexpected token '${c}'`, i);
      push('punct', i, i + punct.length);
      const token = tokens.at(-1)!;
      if (punct === '{') braces.push('{');
      else if (punct === '}') braces.pop();
      else if (punct === '(') parens.push(tokens.at(-2));
      else if (punct === ')') parenOwner.set(token, parens.pop());
      i += punct.length;
    }
  }
  if (braces.at(-1) === '${') throw new TokenizeError('Unterminated template literal', source.length);
  return tokens;
}

function lineEnd(source: string, from: number): number {
  let i = from;
  while (i < source.length && !LINE_TERMINATOR.test(source[i]!)) i++;
  return i;
}

function scanString(source: string, start: number): number {
  const quote = source[start];
  for (let i = start + 1; i < source.length; i++) {
    const c = source[i]!;
    if (c === '\\') i++;
    else if (c === quote) return i + 1;
    else if (c === '\n' || c === '\r') break;
  }
  throw new TokenizeError('Invalid or unexpected token (unterminated string)', start);
}

/** From just after "`" or "}", to just after the closing "`" or the "${". */
function scanTemplate(source: string, from: number): number {
  for (let i = from; i < source.length; i++) {
    const c = source[i];
    if (c === '\\') i++;
    else if (c === '`') return i + 1;
    else if (c === '$' && source[i + 1] === '{') return i + 2;
  }
  throw new TokenizeError('Unterminated template literal', from);
}

function scanRegex(source: string, start: number): number {
  let inClass = false;
  for (let i = start + 1; i < source.length; i++) {
    const c = source[i]!;
    if (LINE_TERMINATOR.test(c)) break;
    if (c === '\\') i++;
    else if (c === '[') inClass = true;
    else if (c === ']') inClass = false;
    else if (c === '/' && !inClass) {
      let end = i + 1;
      while (end < source.length && IDENTIFIER_PART.test(source[end]!)) end++;
      return end;
    }
  }
  throw new TokenizeError('Invalid regular expression: missing /', start);
}

function regexAllowed(previous: Token | undefined, parenOwner: Map<Token, Token | undefined>): boolean {
  if (!previous) return true;
  switch (previous.kind) {
    case 'name':
      return REGEX_AFTER_KEYWORD.has(previous.value);
    case 'punct': {
      if (previous.value === ']' || previous.value === '++' || previous.value === '--') return false;
      if (previous.value === ')') {
        const owner = parenOwner.get(previous);
        return owner?.kind === 'name' && ['if', 'while', 'for', 'with'].includes(owner.value);
      }
      return true;
    }
    case 'tpl-head':
    case 'tpl-middle':
      return true;
    default:
      return false;
  }
}
