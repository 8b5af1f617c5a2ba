import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { compileSchema, jsonSchema } from '../../plugins/json-schema';
import type { PluginEvent } from '../../src/plugins/types';

const ORDER = {
  type: 'object',
  required: ['amount', 'currency'],
  additionalProperties: false,
  properties: {
    amount: { type: 'integer', minimum: 1 },
    currency: { enum: ['usd', 'eur'] },
    items: { type: 'array', items: { $ref: '#/$defs/item' } },
    'a/b': { type: 'string' },
    alt: { anyOf: [{ type: 'string' }, { type: 'number' }] },
  },
  $defs: { item: { type: 'object', properties: { sku: { type: 'string', pattern: '^[A-Z]+$' } } } },
};

const event = (data: unknown): PluginEvent => ({ specversion: '1.0', id: 'evt_1', source: 'urn:test', type: 'orders.created', ...(data === undefined ? {} : { data }) });

function validate(schema: Record<string, unknown>, data: unknown, draft?: '4' | '7' | '2019-09' | '2020-12') {
  const config = jsonSchema.config.parse({ schema, draft });
  const log = { info: () => {}, warn: () => {} };
  return jsonSchema.validate(event(data), { tenantId: 'tn_test', config, log, signal: new AbortController().signal });
}

describe('json-schema validator', () => {
  it('accepts an event whose data matches the schema', async () => {
    expect(await validate(ORDER, { amount: 5, currency: 'eur', items: [{ sku: 'ABC' }] })).toEqual({ ok: true });
  });

  it('reports leaf errors with JSON pointers into the event when the data does not match', async () => {
    const result = await validate(ORDER, { amount: 0.5, currency: 'gbp', items: [{ sku: 'abc' }], extra: true, 'a/b': 1 });
    expect(result.ok).toBe(false);
    const errors = result.ok ? [] : result.errors;
    expect(errors).toEqual(
      expect.arrayContaining([
        { pointer: '/data/amount', detail: 'Instance type "number" is invalid. Expected "integer".' },
        { pointer: '/data/amount', detail: '0.5 is less than 1.' },
        { pointer: '/data/currency', detail: 'Instance does not match any of ["usd","eur"].' },
        { pointer: '/data/items/0/sku', detail: 'String does not match pattern.' },
        { pointer: '/data/a~1b', detail: 'Instance type "number" is invalid. Expected "string".' },
        { pointer: '/data/extra', detail: 'Property "extra" does not match additional properties schema.' },
      ]),
    );
    // wrappers that only say "something below failed" are dropped
    expect(errors.map((e) => e.detail).join('\n')).not.toMatch(/subschema had errors|Items did not match|does not match schema\.|False boolean/);
  });

  it('names the missing required property at the object that lacks it', async () => {
    const result = await validate(ORDER, { amount: 5 });
    expect(result).toEqual({ ok: false, errors: [{ pointer: '/data', detail: 'Instance does not have required property "currency".' }] });
  });

  it('puts the anyOf summary before the failed alternatives when no branch matches', async () => {
    const result = await validate(ORDER, { amount: 5, currency: 'usd', alt: true });
    expect(result.ok ? [] : result.errors.map((e) => e.detail)).toEqual([
      'Instance does not match any subschemas.',
      'Instance type "boolean" is invalid. Expected "string".',
      'Instance type "boolean" is invalid. Expected "number".',
    ]);
  });

  it('rejects an event without data', async () => {
    expect(await validate({ type: 'object' }, undefined)).toEqual({ ok: false, errors: [{ pointer: '/data', detail: 'the event has no data' }] });
  });

  it('refuses schemas that are not valid JSON Schemas', () => {
    const invalid: unknown[] = [
      { type: 12 },
      { type: 'text' },
      { properties: 5 },
      { properties: { a: 5 } },
      { minLength: -1 },
      { required: 'a' },
      { pattern: '(' },
      { patternProperties: { '[': {} } },
      { allOf: [] },
      { items: [{ type: 'string' }] },
      { $ref: '#/$defs/missing' },
      { $ref: 'https://example.com/schema.json' },
      { $dynamicRef: '#meta' },
    ];
    for (const schema of invalid) expect(compileSchema(schema), JSON.stringify(schema)).toMatchObject({ ok: false });
    expect(compileSchema({ type: 12 })).toEqual({ ok: false, error: 'not a valid draft 2020-12 JSON Schema: /type: Instance type "number" is invalid. Expected "string", "array".' });
    expect(compileSchema({ type: 'text' })).toMatchObject({ ok: false, error: expect.stringContaining('/type: Instance does not match any of') });
    expect(compileSchema({ properties: 5 })).toMatchObject({ ok: false, error: expect.stringContaining('/properties') });
  });

  it('refuses an invalid schema when the plugin config is parsed', () => {
    const parsed = jsonSchema.config.safeParse({ schema: { properties: { amount: { type: 'money' } } } });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.path).toEqual(['schema']);
    expect(z.toJSONSchema(jsonSchema.config, { io: 'input' })).toMatchObject({ type: 'object', required: ['schema'] });
  });

  it('compiles each distinct schema once and reuses it', () => {
    const first = compileSchema(ORDER);
    expect(compileSchema(structuredClone(ORDER))).toBe(first);
    expect(compileSchema(ORDER, '7')).not.toBe(first);
    expect(first.ok && first.validate({ amount: 5, currency: 'usd' })).toEqual([]);
  });

  it('applies the draft from the config or from $schema', async () => {
    const draft4 = { type: 'number', maximum: 10, exclusiveMaximum: true };
    expect(compileSchema(draft4)).toMatchObject({ ok: false });
    expect(await validate(draft4, 10, '4')).toMatchObject({ ok: false, errors: [{ pointer: '/data' }] });
    expect(await validate(draft4, 9.5, '4')).toEqual({ ok: true });
    const tuple = { $schema: 'http://json-schema.org/draft-07/schema#', type: 'array', items: [{ type: 'string' }, { type: 'number' }] };
    expect(await validate(tuple, ['a', 1])).toEqual({ ok: true });
    expect(await validate(tuple, [1, 'a'])).toMatchObject({ ok: false, errors: [{ pointer: '/data/0' }, { pointer: '/data/1' }] });
  });

  it('checks 2020-12 keywords such as prefixItems and unevaluatedProperties', async () => {
    const schema = { type: 'object', properties: { pair: { prefixItems: [{ type: 'string' }, { type: 'integer' }] } }, unevaluatedProperties: false };
    expect(await validate(schema, { pair: ['a', 1] })).toEqual({ ok: true });
    expect(await validate(schema, { pair: ['a', 'b'], more: 1 })).toMatchObject({
      ok: false,
      errors: expect.arrayContaining([expect.objectContaining({ pointer: '/data/pair/1' }), expect.objectContaining({ pointer: '/data/more' })]),
    });
  });
});
