/**
 * Compiles tenant JSON Schemas (draft 2020-12 unless the caller or the schema's `$schema` names 4, 7
 * or 2019-09) for the event-type registry and the json-schema validator plugin (through the kit).
 * Schemas are compiled once per distinct text and kept in a bounded module-level cache.
 *
 * A schema is refused when it does not match the draft's meta-schema (see `meta-schema.ts`), when a
 * `$ref` points anywhere but inside the schema itself (nothing is fetched), or when it uses
 * `$dynamicRef`, which the validator library would silently ignore.
 */
import { dereference, Validator, type OutputUnit, type Schema, type SchemaDraft } from '@cfworker/json-schema';
import type { FieldError as FieldProblem } from '../problem';
import type { RequestBudget } from '../request-budget';
import { metaSchema } from './meta-schema';
import { inPlaceFanOutProblem } from './fan-out';
import { compileSchemaPatterns, meteredView, runBounded } from './patterns';

export const DRAFTS = ['4', '7', '2019-09', '2020-12'] as const satisfies readonly SchemaDraft[];
const SCHEMA_URIS: Record<string, SchemaDraft> = {
  'json-schema.org/draft-04/schema': '4',
  'json-schema.org/draft-06/schema': '7',
  'json-schema.org/draft-07/schema': '7',
  'json-schema.org/draft/2019-09/schema': '2019-09',
  'json-schema.org/draft/2020-12/schema': '2020-12',
};
const CACHE_SIZE = 256;
const MAX_PROBLEMS = 50;
const MAX_SCHEMA_CHARS = 256 * 1024;
// Keywords whose own error only says "something below failed"; the errors below say what.
const WRAPPERS = new Set([
  '$ref',
  '$recursiveRef',
  'properties',
  'patternProperties',
  'additionalProperties',
  'unevaluatedProperties',
  'dependentSchemas',
  'items',
  'prefixItems',
  'additionalItems',
  'unevaluatedItems',
  'allOf',
  'then',
  'else',
]);
// Keywords whose branches are allowed to fail; the branch errors are details, shown last.
const ALTERNATIVES = new Set(['anyOf', 'oneOf', 'contains']);

/** `pointer` (into the schema) names the keyword at fault when it is known, e.g. `/properties/sku/pattern`. */
export type CompiledSchema = { ok: true; validate(data: unknown, budget?: RequestBudget): FieldProblem[] } | { ok: false; error: string; pointer?: string };

const compiled = new Map<string, CompiledSchema>();
const metaValidators = new Map<SchemaDraft, Validator>();

/** The draft `draft` names, else the one the schema's `$schema` names, else 2020-12. */
export function draftOf(schema: unknown, draft: SchemaDraft | undefined): SchemaDraft {
  if (draft) return draft;
  const uri = schema && typeof schema === 'object' ? (schema as Schema).$schema : undefined;
  return (typeof uri === 'string' && SCHEMA_URIS[uri.replace(/^https?:\/\//, '').replace(/#$/, '')]) || '2020-12';
}

function pointer(prefix: string, instanceLocation: string): string {
  try {
    return prefix + decodeURIComponent(instanceLocation.replace(/^#/, ''));
  } catch {
    return prefix;
  }
}

/** Library output → problems: wrappers with errors below them dropped, branch details last, no repeats. */
function problems(errors: OutputUnit[], prefix: string): FieldProblem[] {
  let parent: OutputUnit | undefined;
  const units = errors.slice(0, 1000).map((unit) => {
    if (unit.keyword === 'if') {
      // reported at `/if`, while the errors that explain it sit under `/then` or `/else`
      const branch = unit.error.includes('"then"') ? 'then' : 'else';
      return (parent = { ...unit, keyword: branch, keywordLocation: unit.keywordLocation.replace(/\/if$/, `/${branch}`) });
    }
    if (unit.keyword !== 'false') return (parent = unit);
    // a false subschema only says "False boolean schema." and its location is not a schema path
    return parent ? { ...unit, keywordLocation: `${parent.keywordLocation}/false`, error: parent.error } : unit;
  });
  const under = (unit: OutputUnit, above: OutputUnit) => unit !== above && unit.keywordLocation.startsWith(`${above.keywordLocation}/`);
  const kept = units.filter((unit) => !(WRAPPERS.has(unit.keyword) && units.some((other) => under(other, unit))));
  const inBranch = (unit: OutputUnit) => units.some((alt) => ALTERNATIVES.has(alt.keyword) && under(unit, alt));
  const seen = new Set<string>();
  const out: FieldProblem[] = [];
  for (const unit of [...kept.filter((u) => !inBranch(u)), ...kept.filter(inBranch)]) {
    const problem = { pointer: pointer(prefix, unit.instanceLocation), detail: unit.error };
    const key = `${problem.pointer}\n${problem.detail}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(problem);
  }
  return out.slice(0, MAX_PROBLEMS);
}

function metaValidator(draft: SchemaDraft): Validator {
  let validator = metaValidators.get(draft);
  if (!validator) {
    validator = new Validator(metaSchema(draft), '2020-12', false);
    metaValidators.set(draft, validator);
  }
  return validator;
}

function build(text: string, draft: SchemaDraft): CompiledSchema {
  // a private copy: the library writes resolved URIs onto the schema objects it is given
  const schema = JSON.parse(text) as Schema | boolean;
  // patterns first: the meta-schema's `format: "regex"` compiles each one with the built-in engine
  const patterns = compileSchemaPatterns(schema);
  if (!patterns.ok) return { ok: false, error: `${patterns.pointer}: ${patterns.error}`, pointer: patterns.pointer };
  const meta = metaValidator(draft).validate(schema);
  if (!meta.valid) {
    const first = problems(meta.errors, '')[0];
    return { ok: false, error: `not a valid draft ${draft} JSON Schema: ${first?.pointer || '/'}: ${first?.detail ?? 'invalid'}` };
  }
  let lookup: Record<string, Schema | boolean>;
  try {
    lookup = dereference(schema);
  } catch (error) {
    return { ok: false, error: `the schema cannot be compiled: ${(error as Error).message}` };
  }
  for (const node of Object.values(lookup)) {
    if (typeof node !== 'object') continue;
    if (node.$dynamicRef !== undefined) return { ok: false, error: '$dynamicRef is not supported; use $ref' };
    // the library would only notice an unresolvable $ref while validating an event
    const target: unknown = node.__absolute_ref__;
    if (typeof target === 'string' && !(target in lookup)) return { ok: false, error: `$ref "${String(node.$ref)}" does not resolve inside the schema` };
  }
  const fanOut = inPlaceFanOutProblem(schema, lookup);
  if (fanOut) return { ok: false, error: `${fanOut.pointer || '/'}: ${fanOut.error}`, pointer: fanOut.pointer };
  const validator = new Validator(schema, draft, false);
  const validate = (data: unknown, budget?: RequestBudget) => {
    const result = runBounded(patterns.matchers, () => validator.validate(patterns.pairwise ? meteredView(data) : data), budget);
    return result.ok ? problems(result.value.errors, '/data') : [{ pointer: '/data', detail: result.error }];
  };
  return { ok: true, validate };
}

/** Compiles (or fetches from the cache) a JSON Schema; an invalid schema is an `{ ok: false }`. */
export function compileSchema(schema: unknown, draft?: SchemaDraft): CompiledSchema {
  const resolved = draftOf(schema, draft);
  let text: string | undefined;
  try {
    text = JSON.stringify(schema);
  } catch {
    text = undefined;
  }
  if (text === undefined) return { ok: false, error: 'the schema must be JSON' };
  if (text.length > MAX_SCHEMA_CHARS) return { ok: false, error: `the schema is larger than ${MAX_SCHEMA_CHARS / 1024} KiB` };
  const key = `${resolved}\n${text}`;
  const hit = compiled.get(key);
  if (hit) {
    compiled.delete(key);
    compiled.set(key, hit);
    return hit;
  }
  const result = build(text, resolved);
  if (compiled.size >= CACHE_SIZE) compiled.delete(compiled.keys().next().value!);
  compiled.set(key, result);
  return result;
}
