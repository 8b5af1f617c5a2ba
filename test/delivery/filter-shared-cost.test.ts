import { afterEach, describe, expect, it } from 'vitest';
import { compileFilter, type Predicate } from '../../src/delivery/filter';

function compiled(where: unknown): Predicate {
  const filter = compileFilter(where);
  if (!filter.ok) throw new Error(JSON.stringify(filter.errors));
  return filter.test;
}

const stringify = JSON.stringify;
afterEach(() => {
  JSON.stringify = stringify;
});

describe('where filters sharing one event', () => {
  it('serializes a large event value once when many subscriptions compare it with objects many times', () => {
    const data = { blob: 'x'.repeat(1_000_000), n: 1 };
    const event = { type: 'orders.created', data, list: [data] };
    // 50 subscriptions, each with 150 conditions comparing `data` with an object (the node limit is 200)
    const filters = Array.from({ length: 50 }, (_, s) =>
      compiled({
        $or: Array.from({ length: 150 }, (_, i) =>
          i % 3 === 0 ? { data: { other: s * 1000 + i } } : i % 3 === 1 ? { data: { $in: [{ k: i }] } } : { list: { $contains: { k: i } } },
        ),
      }),
    );
    // counted by hand: a spy would keep every 1 MB result alive
    let ofData = 0;
    JSON.stringify = ((value: unknown, ...rest: []) => {
      if (value === data) ofData++;
      return stringify(value, ...rest);
    }) as typeof JSON.stringify;
    const started = performance.now();
    for (const test of filters) expect(test(event)).toBe(false);
    const took = performance.now() - started;
    JSON.stringify = stringify;
    console.log(`50 filters × 150 object comparisons against 1 MB of data: ${took.toFixed(0)} ms, data serialized ${ofData}×`);
    expect(ofData).toBe(1);
    expect(compiled({ data: { blob: 'x'.repeat(1_000_000), n: 1 } })(event)).toBe(true);
  });
});
