/**
 * What storage can take, checked at the door so that nothing is acknowledged that Postgres would
 * refuse. Postgres parses jsonb recursively and fails ("stack depth limit exceeded") on deep
 * nesting, and `JSON.stringify` throws a RangeError on it, so depth is measured here without
 * recursion: a 100,000-deep input costs a short loop, never a stack overflow.
 */

/** Levels of objects and arrays an event's `data` may nest (`{}` and `[]` are one level). */
export const MAX_DATA_DEPTH = 64;
/**
 * Largest stored event, in UTF-8 bytes of its JSON: room for a full 1 MiB body in binary mode once
 * base64-encoded (4/3) with its attributes, while bounding what escapes and transformers can add.
 */
export const MAX_EVENT_BYTES = 1.5 * 1024 * 1024;

/**
 * What storage could not take in `value`, found in one walk without recursion: nesting of objects and
 * arrays more than `max` levels deep (stops at the first level past it), or a number JSON cannot carry
 * (see `nonFiniteNumberAt`, which names where). Null when neither.
 */
export function unstorableData(value: unknown, max: number): 'too_deep' | 'non_finite' | null {
  if (typeof value === 'number') return Number.isFinite(value) ? null : 'non_finite';
  if (value === null || typeof value !== 'object') return null;
  const stack: unknown[] = [value];
  const depths: number[] = [1];
  while (stack.length > 0) {
    const node = stack.pop() as object;
    const depth = depths.pop()!;
    if (depth > max) return 'too_deep';
    const children = Array.isArray(node) ? node : Object.values(node);
    for (const child of children) {
      if (typeof child === 'number') {
        if (!Number.isFinite(child)) return 'non_finite';
      } else if (child !== null && typeof child === 'object') {
        stack.push(child);
        depths.push(depth + 1);
      }
    }
  }
  return null;
}

/**
 * The JSON pointer (under `/data`) of the first number in `value` that JSON cannot carry: `JSON.parse`
 * reads a literal past ±1.8e308 (`1e309`) as Infinity, which `JSON.stringify` then writes as `null`,
 * so the stored event would silently differ from the signed one. Iterative; builds pointers, so it runs
 * only once `unstorableData` found such a number.
 */
export function nonFiniteNumberAt(value: unknown): string | null {
  if (typeof value === 'number') return Number.isFinite(value) ? null : '/data';
  if (value === null || typeof value !== 'object') return null;
  const stack: object[] = [value];
  const pointers: string[] = ['/data'];
  while (stack.length > 0) {
    const node = stack.pop()!;
    const pointer = pointers.pop()!;
    const array = Array.isArray(node);
    const keys = array ? null : Object.keys(node);
    const length = array ? node.length : keys!.length;
    for (let i = 0; i < length; i++) {
      const key = array ? i : keys![i]!;
      const child: unknown = (node as Record<string | number, unknown>)[key];
      if (typeof child === 'number') {
        if (!Number.isFinite(child)) return `${pointer}/${escapePointer(String(key))}`;
      } else if (child !== null && typeof child === 'object') {
        stack.push(child);
        pointers.push(`${pointer}/${escapePointer(String(key))}`);
      }
    }
  }
  return null;
}

const escapePointer = (key: string) => key.replace(/~/g, '~0').replace(/\//g, '~1');

/** Whether `text` takes more than `limit` bytes as UTF-8, counted without encoding it (a lone surrogate counts 3). */
export function longerThanBytes(text: string, limit: number): boolean {
  // every UTF-16 unit is at most 3 UTF-8 bytes, so most strings need no count
  if (text.length * 3 <= limit) return false;
  if (text.length > limit) return true;
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes > limit;
}

const isNumberChar = (c: number) => (c >= 48 && c <= 57) || c === 45 || c === 43 || c === 46 || c === 69 || c === 101;

/**
 * The first integer literal in the JSON `text` that a double cannot hold exactly (past ±2^53, e.g.
 * `12345678901234567891`), or null. `JSON.parse` would round it silently, so the stored event would
 * say something other than what was signed. Linear, strings skipped, and only run when the text has
 * a run of 16 digits at all.
 */
export function inexactIntegerIn(text: string): string | null {
  if (!/\d{16}/.test(text)) return null;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++;
      else if (c === 34) inString = false;
      continue;
    }
    if (c === 34) {
      inString = true;
      continue;
    }
    if (c !== 45 && (c < 48 || c > 57)) continue;
    let end = i;
    while (end < text.length && isNumberChar(text.charCodeAt(end))) end++;
    const literal = text.slice(i, end);
    i = end - 1;
    if (literal.length < 16 || /[.eE]/.test(literal)) continue;
    try {
      if (BigInt(literal) !== BigInt(Number(literal))) return literal;
    } catch {
      // not a number JSON.parse accepted; it refused the text already
    }
  }
  return null;
}
