/**
 * A compact, self-contained meta-schema per draft. @cfworker/json-schema ships no meta-schemas and
 * does not implement `$dynamicRef`, which the official 2020-12 meta-schema is built on, so this one
 * restates the keyword shapes of the official vocabularies (core, applicator, unevaluated, validation,
 * format, content, meta-data) with plain `$ref: "#"` recursion. It checks what each known keyword
 * may hold (types, non-negative counts, regex syntax, schema positions); unknown keywords stay allowed,
 * as the specification says.
 */
import type { Schema, SchemaDraft } from '@cfworker/json-schema';

const schema: Schema = { $ref: '#' };
const schemaArray: Schema = { type: 'array', minItems: 1, items: schema };
const schemaMap: Schema = { type: 'object', additionalProperties: schema };
const count: Schema = { type: 'integer', minimum: 0 };
const stringArray: Schema = { type: 'array', items: { type: 'string' }, uniqueItems: true };
const simpleTypes: Schema = { enum: ['array', 'boolean', 'integer', 'null', 'number', 'object', 'string'] };

export function metaSchema(draft: SchemaDraft): Schema {
  const legacy = draft === '4' || draft === '7' || draft === '2019-09';
  const bound: Schema = { type: draft === '4' ? 'boolean' : 'number' };
  return {
    type: draft === '4' ? 'object' : ['object', 'boolean'],
    properties: {
      id: draft === '4' ? { type: 'string' } : true,
      $id: { type: 'string' },
      $schema: { type: 'string' },
      $ref: { type: 'string' },
      $anchor: { type: 'string', pattern: '^[A-Za-z_][-A-Za-z0-9._]*$' },
      $comment: { type: 'string' },
      $defs: schemaMap,
      definitions: schemaMap,
      $vocabulary: { type: 'object', additionalProperties: { type: 'boolean' } },
      $recursiveRef: { type: 'string' },
      $recursiveAnchor: { type: 'boolean' },
      $dynamicRef: { type: 'string' },
      $dynamicAnchor: { type: 'string' },

      allOf: schemaArray,
      anyOf: schemaArray,
      oneOf: schemaArray,
      not: schema,
      if: schema,
      then: schema,
      else: schema,
      properties: schemaMap,
      patternProperties: { type: 'object', additionalProperties: schema, propertyNames: { format: 'regex' } },
      additionalProperties: schema,
      propertyNames: schema,
      dependentSchemas: schemaMap,
      dependencies: { type: 'object', additionalProperties: { anyOf: [schema, stringArray] } },
      prefixItems: schemaArray,
      items: legacy ? { anyOf: [schema, schemaArray] } : schema,
      additionalItems: schema,
      contains: schema,
      unevaluatedItems: schema,
      unevaluatedProperties: schema,

      // if/then/else rather than anyOf, so a wrong `type` gets a specific message instead of "no branch matched"
      type: { type: ['string', 'array'], if: { type: 'string' }, then: simpleTypes, else: { items: simpleTypes, minItems: 1, uniqueItems: true } },
      enum: { type: 'array' },
      multipleOf: { type: 'number', exclusiveMinimum: 0 },
      maximum: { type: 'number' },
      minimum: { type: 'number' },
      exclusiveMaximum: bound,
      exclusiveMinimum: bound,
      maxLength: count,
      minLength: count,
      pattern: { type: 'string', format: 'regex' },
      maxItems: count,
      minItems: count,
      uniqueItems: { type: 'boolean' },
      maxContains: count,
      minContains: count,
      maxProperties: count,
      minProperties: count,
      required: stringArray,
      dependentRequired: { type: 'object', additionalProperties: stringArray },

      format: { type: 'string' },
      contentEncoding: { type: 'string' },
      contentMediaType: { type: 'string' },
      contentSchema: schema,
      title: { type: 'string' },
      description: { type: 'string' },
      deprecated: { type: 'boolean' },
      readOnly: { type: 'boolean' },
      writeOnly: { type: 'boolean' },
      examples: { type: 'array' },
    },
  };
}
