import { describe, expect, it } from 'vitest';
import { compatibilityProblems, type CompatibilityMode } from '../../src/lib/json-schema/compat';

const order = {
  $defs: { money: { type: 'number', minimum: 0 } },
  type: 'object',
  required: ['amount'],
  additionalProperties: false,
  properties: { amount: { $ref: '#/$defs/money' }, lines: { type: 'array', items: { type: 'integer' } }, status: { enum: ['new', 'paid'] } },
};
const tree = { $defs: { node: { type: 'object', properties: { kids: { type: 'array', items: { $ref: '#/$defs/node' } } } } }, $ref: '#/$defs/node' };
const pointers = (previous: unknown, next: unknown, mode: CompatibilityMode) => compatibilityProblems(previous, next, mode).map((r) => r.pointer);

describe('schema compatibility', () => {
  it('proves what holds through $ref, allOf, anyOf, integer ⊂ number and recursion', () => {
    const cases: [unknown, unknown, CompatibilityMode][] = [
      [order, structuredClone(order), 'full'],
      [tree, structuredClone(tree), 'full'],
      // integer items read as numbers; a wider enum; a looser bound reached through $ref
      [
        order,
        {
          ...order,
          $defs: { money: { type: 'number' } },
          properties: { ...order.properties, lines: { type: 'array', items: { type: 'number' } }, status: { enum: ['new', 'paid', 'void'] } },
        },
        'backward',
      ],
      [
        { allOf: [{ type: 'object', required: ['a'] }, { properties: { a: { type: 'string' } } }] },
        { type: 'object', required: ['a'], properties: { a: { type: 'string' } } },
        'full',
      ],
      [{ type: 'string' }, { anyOf: [{ type: 'number' }, { type: 'string', minLength: 0 }] }, 'backward'],
      [{ type: 'string', maxLength: 5 }, true, 'backward'],
    ];
    for (const [previous, next, mode] of cases) expect(compatibilityProblems(previous, next, mode), JSON.stringify(next)).toEqual([]);
  });

  it('names each breaking change with a pointer into the new schema', () => {
    expect(pointers(order, { ...order, $defs: { money: { type: 'number', minimum: 1 } } }, 'backward')).toEqual(['/schema/$defs/money/minimum']);
    expect(pointers(order, { ...order, properties: { ...order.properties, lines: { type: 'array', items: { type: 'number' } } } }, 'forward')).toEqual([
      '/schema/properties/lines/items/type',
    ]);
    const tuple = {
      $schema: 'http://json-schema.org/draft-07/schema#',
      type: 'array',
      items: [{ type: 'string' }, { type: 'number' }],
      additionalItems: false,
    };
    expect(pointers(tuple, { ...tuple, items: [{ type: 'string' }, { type: 'integer' }] }, 'backward')).toEqual(['/schema/items/1/type']);
    expect(pointers({ type: 'object' }, { type: 'object', properties: { b: { type: 'integer' } } }, 'backward')).toEqual(['/schema/properties/b']);
    expect(pointers(tree, { ...tree, $defs: { node: { ...tree.$defs.node, required: ['kids'] } } }, 'backward')).toEqual(['/schema/$defs/node/required']);
  });

  it('says "cannot prove compatible" instead of passing what it cannot compare, or what takes too long', () => {
    const [oneOf] = compatibilityProblems({ type: 'string' }, { oneOf: [{ type: 'string' }, { type: 'number' }] }, 'backward');
    expect(oneOf?.detail).toContain('cannot prove compatible');
    // each of 210 strings-up-to-k is found in the k-th branch of the new anyOf: about 22,000 comparisons
    const upTo = { anyOf: Array.from({ length: 210 }, (_, k) => ({ type: 'string', maxLength: k })) };
    expect(compatibilityProblems(upTo, { anyOf: [...upTo.anyOf, { type: 'null' }] }, 'backward')[0]?.detail).toMatch(
      /cannot prove compatible: comparing these schemas takes more than \d+ steps/,
    );
  });
});
