import { describe, expect, it } from 'vitest';
import { compileFilter } from '../../src/delivery/filter';

const event = {
  specversion: '1.0',
  id: '1',
  source: '/shop',
  type: 'orders.created',
  subject: 'order/42',
  data: { amount: 120, currency: 'EUR', tags: ['vip', 'eu'], customer: { email: 'a@example.com', country: 'DE' }, items: [{ sku: 'A-1' }] },
};

function matches(where: unknown): boolean {
  const compiled = compileFilter(where);
  if (!compiled.ok) throw new Error(JSON.stringify(compiled.errors));
  return compiled.test(event);
}

describe('where filters', () => {
  it.each([
    [{ 'data.currency': 'EUR' }, true],
    [{ 'data.currency': 'USD' }, false],
    [{ 'data.amount': { $gt: 100 } }, true],
    [{ 'data.amount': { $gte: 120, $lt: 121 } }, true],
    [{ 'data.amount': { $lte: 119 } }, false],
    [{ 'data.amount': { $gt: '100' } }, false],
    [{ subject: { $startsWith: 'order/' } }, true],
    [{ 'data.customer.email': { $endsWith: '@example.com' } }, true],
    [{ 'data.tags': { $contains: 'vip' } }, true],
    [{ 'data.customer.email': { $contains: 'example' } }, true],
    [{ 'data.customer.country': { $in: ['DE', 'FR'] } }, true],
    [{ 'data.customer.country': { $nin: ['DE', 'FR'] } }, false],
    [{ 'data.coupon': { $exists: false } }, true],
    [{ 'data.items.0.sku': 'A-1' }, true],
    [{ 'data.customer': { email: 'a@example.com', country: 'DE' } }, true],
    [{ $or: [{ 'data.currency': 'USD' }, { 'data.amount': { $gt: 100 } }] }, true],
    [{ $and: [{ 'data.currency': 'EUR' }, { $not: { 'data.amount': { $gt: 100 } } }] }, false],
    [{ 'data.amount': { $ne: 120 } }, false],
  ])('evaluates %j to %s', (where, expected) => {
    expect(matches(where)).toBe(expected);
  });

  it('matches everything when there is no filter', () => {
    expect(matches(undefined)).toBe(true);
  });

  it('refuses unknown operators and malformed operands with pointers', () => {
    const compiled = compileFilter({ 'data.amount': { $regex: 'x' }, $or: [], subject: { $in: 'x' } });
    expect(compiled.ok).toBe(false);
    if (compiled.ok) return;
    expect(compiled.errors.map((e) => e.pointer).sort()).toEqual(['/$or', '/data.amount/$regex', '/subject/$in']);
  });

  it('refuses a path through __proto__, constructor or prototype instead of reading the prototype', () => {
    // formerly `{ 'data.__proto__': { $exists: true } }` compiled and matched nothing; now it is refused
    for (const where of [
      { 'data.__proto__': { $exists: true } },
      { 'data.constructor': 'x' },
      JSON.parse('{"__proto__": {"a": 1}}'),
      { $or: [{ 'prototype.x': 1 }] },
    ]) {
      const compiled = compileFilter(where);
      expect(compiled.ok, JSON.stringify(where)).toBe(false);
      if (!compiled.ok) expect(compiled.errors[0]!.detail).toMatch(/prototype/);
    }
    const compiled = compileFilter({ 'data.__proto__': { $exists: true } });
    expect(!compiled.ok && compiled.errors[0]!.pointer).toBe('/data.__proto__');
  });

  it('refuses filters that nest too deeply', () => {
    let where: Record<string, unknown> = { subject: 'x' };
    for (let i = 0; i < 12; i++) where = { $not: where };
    expect(compileFilter(where).ok).toBe(false);
  });
});
