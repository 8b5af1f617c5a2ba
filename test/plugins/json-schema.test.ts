import fc from 'fast-check';
import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { format } from '@cfworker/json-schema';
import { jsonSchema } from '../../plugins/json-schema';
import { compileSchema } from '../../src/lib/json-schema/compile';
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

const event = (data: unknown): PluginEvent => ({
  specversion: '1.0',
  id: 'evt_1',
  source: 'urn:test',
  type: 'orders.created',
  ...(data === undefined ? {} : { data }),
});

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
    expect(compileSchema({ type: 12 })).toEqual({
      ok: false,
      error: 'not a valid draft 2020-12 JSON Schema: /type: Instance type "number" is invalid. Expected "string", "array".',
    });
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

  it('checks ^(a+)+$ in one pass when the data would make a backtracking RegExp run for seconds', async () => {
    const evil = `${'a'.repeat(40)}!`;
    expect(await validate({ type: 'string', pattern: '^(a+)+$' }, evil)).toEqual({
      ok: false,
      errors: [{ pointer: '/data', detail: 'String does not match pattern.' }],
    });
    expect(await validate({ type: 'string', pattern: '^(a+)+$' }, 'a'.repeat(40))).toEqual({ ok: true });
    const keys = { patternProperties: { '^(a+)+$': { type: 'number' } }, additionalProperties: { type: 'string' } };
    expect(await validate(keys, { [evil]: 'not a number', aaaa: 1 })).toEqual({ ok: true });
    expect(await validate(keys, { [evil]: 'x', aaaa: 'x' })).toEqual({
      ok: false,
      errors: [{ pointer: '/data/aaaa', detail: 'Instance type "string" is invalid. Expected "number".' }],
    });
  });

  it('never hands a schema pattern to the backtracking RegExp engine while validating data', () => {
    // the test runtime's V8 reruns runaway regexes on a linear engine; production's does not
    const compiled = compileSchema({ type: 'object', properties: { a: { pattern: '^(b+)+$' } }, patternProperties: { '^(c+)+$': { type: 'string' } } });
    const builtIn = globalThis.RegExp;
    const built: string[] = [];
    globalThis.RegExp = new Proxy(builtIn, { construct: (target, args) => (built.push(String(args[0])), Reflect.construct(target, args)) });
    try {
      expect(compiled.ok && compiled.validate({ a: `${'b'.repeat(30)}!`, cccc: 1 })).toEqual([
        { pointer: '/data/a', detail: 'String does not match pattern.' },
        { pointer: '/data/cccc', detail: 'Instance type "number" is invalid. Expected "string".' },
      ]);
    } finally {
      globalThis.RegExp = builtIn;
    }
    expect(built).toEqual([]);
  });

  it('keeps the meaning and output of patterns inside not, anyOf and $ref when they run in linear time', async () => {
    const schema = {
      $defs: { code: { pattern: '^[A-Z]{3}$' } },
      properties: { a: { not: { pattern: '^x' } }, b: { anyOf: [{ pattern: '^\\d+$' }, { $ref: '#/$defs/code' }] } },
    };
    expect(await validate(schema, { a: 'yx', b: 'EUR' })).toEqual({ ok: true });
    expect(await validate(schema, { a: 'xy', b: 'eur' })).toEqual({
      ok: false,
      errors: [
        { pointer: '/data/a', detail: 'Instance matched "not" schema.' },
        { pointer: '/data/b', detail: 'Instance does not match any subschemas.' },
        { pointer: '/data/b', detail: 'String does not match pattern.' },
      ],
    });
  });

  it('stops with a problem instead of running on when the patterns need more than their budget for one event', async () => {
    const result = await validate({ type: 'string', pattern: '([ab]*a[ab]{10}){30}[ab]$' }, 'ab'.repeat(50_000));
    expect(result).toEqual({ ok: false, errors: [{ pointer: '/data', detail: expect.stringContaining('would take too long on this event') }] });
    expect(await validate({ type: 'string', pattern: '^[A-Za-z0-9+/]*={0,2}$' }, 'QUJD'.repeat(250_000))).toEqual({ ok: true });
  });

  it('stops with a problem when $refs that fan out would evaluate millions of subschemas for one event', async () => {
    // 22 levels of allOf: [$ref next, $ref next] took 12 s per event before the evaluation budget
    const $defs: Record<string, unknown> = { d22: { type: 'string' } };
    for (let i = 0; i < 22; i++) $defs[`d${i}`] = { allOf: [{ $ref: `#/$defs/d${i + 1}` }, { $ref: `#/$defs/d${i + 1}` }] };
    // such a chain is now refused when it is registered (fan-out.ts); the budget still bounds what
    // the data multiplies: ~900 evaluations per item × 1,000 items
    expect(compileSchema({ $defs, $ref: '#/$defs/d0' })).toMatchObject({ ok: false, error: expect.stringContaining('subschemas on one value') });
    expect(compileSchema({ $ref: '#' })).toMatchObject({ ok: false, error: expect.stringContaining('without end') });
    const wide = {
      $defs: { n: { allOf: Array.from({ length: 30 }, (_, i) => ({ minimum: -i })) } },
      type: 'array',
      items: { allOf: Array.from({ length: 29 }, () => ({ $ref: '#/$defs/n' })) },
    };
    expect(
      await validate(
        wide,
        Array.from({ length: 1000 }, (_, i) => i),
      ),
    ).toEqual({ ok: false, errors: [{ pointer: '/data', detail: expect.stringContaining('subschema evaluations') }] });
    const items = await validate(
      { type: 'array', items: { $ref: '#/$defs/n' }, $defs: { n: { type: 'integer', minimum: 0 } } },
      Array.from({ length: 50_000 }, (_, i) => i),
    );
    expect(items).toEqual({ ok: true });
  });

  it('bounds what the regex format compiles for one event, since it must use the built-in engine', async () => {
    // 600 KB of \p{L} took 3 s to compile
    const schema = { type: 'array', items: { type: 'string', format: 'regex' } };
    expect(await validate(schema, ['^a+$', '\\d{4}'])).toEqual({ ok: true });
    expect(await validate(schema, ['('])).toMatchObject({ ok: false, errors: [{ pointer: '/data/0', detail: 'String does not match format "regex".' }] });
    expect(await validate(schema, Array(100).fill('\\p{L}'.repeat(1000)))).toEqual({
      ok: false,
      errors: [{ pointer: '/data', detail: expect.stringContaining('format "regex"') }],
    });
  });

  it('refuses a schema whose patterns add up to more than the limit, before compiling them', () => {
    const properties = Object.fromEntries(Array.from({ length: 2 }, (_, i) => [`p${i}`, { pattern: `^${'\\p{L}'.repeat(150)}${i}$` }]));
    expect(compileSchema({ properties })).toMatchObject({ ok: false, pointer: '/properties/p1/pattern', error: expect.stringContaining('in all') });
    const plain = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`p${i}`, { pattern: `${i}${'x'.repeat(900)}` }]));
    expect(compileSchema({ properties: plain })).toMatchObject({ ok: false, pointer: '/properties/p18/pattern' });
    expect(compileSchema({ properties: { a: { pattern: '^\\p{Lu}\\p{Ll}+$' } } })).toMatchObject({ ok: true });
  });

  it('stops with a problem when uniqueItems would compare every pair of a 20,000-item array', async () => {
    // 10 s per event before the read budget
    const schema = { type: 'object', properties: { ids: { type: 'array', uniqueItems: true } } };
    const many = Array.from({ length: 20_000 }, (_, i) => ({ i }));
    expect(await validate(schema, { ids: many })).toEqual({
      ok: false,
      errors: [{ pointer: '/data', detail: expect.stringContaining('uniqueItems compares every pair') }],
    });
    expect(await validate(schema, { ids: many.slice(0, 400) })).toEqual({ ok: true });
    expect(await validate(schema, { ids: [{ a: [1] }, 2, { a: [1] }] })).toEqual({
      ok: false,
      errors: [{ pointer: '/data/ids', detail: 'Duplicate items at indexes 0 and 2.' }],
    });
  });

  it('refuses a pattern that RE2 cannot run and names its JSON pointer in the schema and in the plugin config', () => {
    expect(compileSchema({ properties: { sku: { pattern: '^(a)\\1$' } } })).toEqual({
      ok: false,
      pointer: '/properties/sku/pattern',
      error: '/properties/sku/pattern: backreferences (\\1, \\k<name>) are not supported',
    });
    expect(compileSchema({ $defs: { x: { patternProperties: { 'a/(?=b)': {} } } } })).toMatchObject({
      ok: false,
      pointer: '/$defs/x/patternProperties/a~1(?=b)',
      error: expect.stringContaining('lookahead'),
    });
    expect(compileSchema({ items: { pattern: 'a'.repeat(1001) } })).toMatchObject({
      ok: false,
      pointer: '/items/pattern',
      error: expect.stringContaining('at most 1000 characters'),
    });
    expect(compileSchema({ pattern: '(?<=a)b' })).toMatchObject({ ok: false, pointer: '/pattern' });
    const parsed = jsonSchema.config.safeParse({ schema: { properties: { 'a/b': { pattern: '(x)\\1' } } } });
    expect(parsed.error?.issues[0]?.path).toEqual(['schema', 'properties', 'a/b', 'pattern']);
  });

  it('answers the url format in one pass when the host would make the library regex backtrack exponentially', async () => {
    expect(await validate({ format: 'url' }, `http://${'a'.repeat(40)}!`)).toMatchObject({
      ok: false,
      errors: [{ pointer: '/data', detail: 'String does not match format "url".' }],
    });
    expect(await validate({ format: 'url' }, `http://${':'.repeat(100_000)}`)).toMatchObject({ ok: false });
    expect(await validate({ format: 'url' }, 'https://user:pw@shop-1.example.com:8443/a?b#c')).toEqual({ ok: true });
  });

  it('accepts the same urls as the library regex it replaces', () => {
    // @cfworker/json-schema 4.1.6's URL_ verbatim, safe on these short inputs
    const original =
      /^(?:(?:https?|ftp):\/\/)(?:\S+(?::\S*)?@)?(?:(?!10(?:\.\d{1,3}){3})(?!127(?:\.\d{1,3}){3})(?!169\.254(?:\.\d{1,3}){2})(?!192\.168(?:\.\d{1,3}){2})(?!172\.(?:1[6-9]|2\d|3[0-1])(?:\.\d{1,3}){2})(?:[1-9]\d?|1\d\d|2[01]\d|22[0-3])(?:\.(?:1?\d{1,2}|2[0-4]\d|25[0-5])){2}(?:\.(?:[1-9]\d?|1\d\d|2[0-4]\d|25[0-4]))|(?:(?:[a-z\u{00a1}-\u{ffff}0-9]+-?)*[a-z\u{00a1}-\u{ffff}0-9]+)(?:\.(?:[a-z\u{00a1}-\u{ffff}0-9]+-?)*[a-z\u{00a1}-\u{ffff}0-9]+)*(?:\.(?:[a-z\u{00a1}-\u{ffff}]{2,})))(?::\d{2,5})?(?:\/[^\s]*)?$/iu;
    const part = fc.constantFrom('a', 'b', 'é', '1', '0', '-', '.', ':', '@', '/', ' ', '10', '127', '192.168', '255', '80', 'com', 'x-y');
    fc.assert(
      fc.property(fc.constantFrom('http://', 'https://', 'ftp://', 'mailto:'), fc.array(part, { maxLength: 9 }), (scheme, parts) => {
        const url = scheme + parts.join('');
        expect(format.url!(url), url).toBe(original.test(url));
      }),
      { numRuns: 5000 },
    );
  });

  it('treats a format the library does not know as an annotation, even when it names an Object property', async () => {
    expect(await validate({ type: 'string', format: '__proto__' }, 'x')).toEqual({ ok: true });
    expect(await validate({ type: 'string', format: 'hasOwnProperty' }, 'x')).toEqual({ ok: true });
    expect(await validate({ format: 'email' }, 'nope')).toMatchObject({ ok: false });
  });
});
