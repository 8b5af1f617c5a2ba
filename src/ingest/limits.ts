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

/** Whether `value` nests objects and arrays more than `max` levels deep. Iterative; stops at the first level past `max`. */
export function nestsDeeperThan(value: unknown, max: number): boolean {
  if (value === null || typeof value !== 'object') return false;
  const stack: unknown[] = [value];
  const depths: number[] = [1];
  while (stack.length > 0) {
    const node = stack.pop() as object;
    const depth = depths.pop()!;
    if (depth > max) return true;
    const children = Array.isArray(node) ? node : Object.values(node);
    for (const child of children) {
      if (child !== null && typeof child === 'object') {
        stack.push(child);
        depths.push(depth + 1);
      }
    }
  }
  return false;
}

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
