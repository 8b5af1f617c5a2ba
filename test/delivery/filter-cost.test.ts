import { describe, expect, it } from 'vitest';
import { compileFilter } from '../../src/delivery/filter';

function compiled(where: unknown) {
  const filter = compileFilter(where);
  if (!filter.ok) throw new Error(JSON.stringify(filter.errors));
  return filter;
}

describe('where filters on large events', () => {
  it('matches $contains in one pass when the operand would make String.includes take haystack × operand steps', () => {
    const needle = `${'a'.repeat(2500)}b${'a'.repeat(2500)}`;
    const filter = compiled({ 'data.text': { $contains: needle } });
    expect(filter.test({ data: { text: 'a'.repeat(1_000_000) } })).toBe(false);
    expect(filter.test({ data: { text: `x${needle}x` } })).toBe(true);
  });

  it('serializes the event value once when $in lists many objects', () => {
    const list = Array.from({ length: 20_000 }, (_, i) => ({ id: i }));
    const big = { blob: 'x'.repeat(500_000) };
    const filter = compiled({ data: { $in: [...list, { id: 'last' }] } });
    expect(filter.test({ data: big })).toBe(false);
    expect(filter.test({ data: { id: 'last' } })).toBe(true);
    expect(compiled({ 'data.n': { $in: [1, null, 'a'] } }).test({ data: { n: null } })).toBe(true);
    expect(compiled({ 'data.n': { $nin: [{ a: 1 }] } }).test({ data: { n: { a: 1 } } })).toBe(false);
    expect(compiled({ 'data.tags': { $contains: { a: 1 } } }).test({ data: { tags: [1, { a: 1 }] } })).toBe(true);
    expect(compiled({ 'data.o': { a: [1] } }).test({ data: { o: { a: [1] } } })).toBe(true);
  });
});
