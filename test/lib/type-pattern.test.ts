import { describe, expect, it } from 'vitest';
import { matchesType, TYPE_PATTERN } from '../../src/lib/type-pattern';

describe('event-type patterns', () => {
  it.each([
    ['orders.created', 'orders.created', true],
    ['orders.created', 'orders.paid', false],
    ['orders.*', 'orders.created', true],
    ['orders.*', 'orders.created.eu', false],
    ['orders.*', 'orders', false],
    ['orders.**', 'orders.created.eu', true],
    ['orders.**', 'orders', true],
    ['orders.**', 'ordersx.created', false],
    ['*.failed', 'payment.failed', true],
    ['*.failed', 'a.payment.failed', false],
    ['**.failed', 'a.payment.failed', true],
    ['**.failed', 'failed', true],
    ['**.failed', 'a.failed.not', false],
    ['**', 'anything.at.all', true],
    ['a.**.z', 'a.z', true],
    ['a.**.z', 'a.b.c.z', true],
    ['a.**.z', 'a.b.c', false],
    ['github.pull_request.*', 'github.pull_request.opened', true],
    ['stock-items.*', 'stock-items.moved', true],
  ])('matches %s against %s: %s', (pattern, type, expected) => {
    expect(matchesType(pattern, type)).toBe(expected);
  });

  it('accepts only well-formed patterns', () => {
    for (const ok of ['orders.*', '**', '*.failed', 'a.**.z']) expect(TYPE_PATTERN.test(ok)).toBe(true);
    for (const bad of ['', 'orders.', '.orders', 'orders..x', 'ord*rs', 'a.***']) expect(TYPE_PATTERN.test(bad)).toBe(false);
  });
});
