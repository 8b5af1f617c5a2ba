/**
 * Example data for `trigger`: the schema's `examples[0]`, else an instance json-schema-faker makes,
 * with `--set path=value` overrides, validated by the library the runtime validates with
 * (@cfworker/json-schema) before anything is sent.
 */
import { Validator, type Schema, type SchemaDraft } from '@cfworker/json-schema';
import { generate } from 'json-schema-faker';
import { usageError } from './errors.ts';

const DRAFTS: Record<string, SchemaDraft> = {
  'json-schema.org/draft-04/schema': '4',
  'json-schema.org/draft-07/schema': '7',
  'json-schema.org/draft/2019-09/schema': '2019-09',
  'json-schema.org/draft/2020-12/schema': '2020-12',
};

export function draftOf(schema: Record<string, unknown>): SchemaDraft {
  const uri = typeof schema.$schema === 'string' ? schema.$schema.replace(/^https?:\/\//, '').replace(/#$/, '') : '';
  return DRAFTS[uri] ?? '2020-12';
}

/** Field problems as `<pointer>: <message>`; empty when valid. */
export function validate(schema: Record<string, unknown>, data: unknown): string[] {
  const result = new Validator(schema as Schema, draftOf(schema), false).validate(data);
  return result.errors
    .filter((e) => !['properties', '$ref', 'allOf', 'items', 'prefixItems'].includes(e.keyword))
    .map((e) => `${e.instanceLocation.replace(/^#/, '') || '/'}: ${e.error}`);
}

/** `examples[0]`, else a generated instance that validates (a few seeds are tried). */
export async function exampleData(schema: Record<string, unknown>): Promise<{ data: unknown; from: 'examples' | 'generated' }> {
  if (Array.isArray(schema.examples) && schema.examples.length > 0) return { data: structuredClone(schema.examples[0]), from: 'examples' };
  let last: unknown;
  for (let attempt = 0; attempt < 8; attempt++) {
    last = await generate(schema as never, { seed: Math.floor(Math.random() * 2 ** 31), useExamplesValue: true, useDefaultValue: true });
    if (validate(schema, last).length === 0) break;
  }
  return { data: last, from: 'generated' };
}

/** `a.b.0=…` paths of `--set`; the value is JSON when it parses, else a string. */
export function applySet(data: unknown, assignment: string): unknown {
  const eq = assignment.indexOf('=');
  if (eq <= 0) throw usageError(`error: --set ${assignment}: expected path=value`);
  const path = assignment.slice(0, eq).split('.');
  const raw = assignment.slice(eq + 1);
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    value = raw;
  }
  if (path.some((p) => p === '' || p === '__proto__' || p === 'constructor' || p === 'prototype')) throw usageError(`error: --set ${assignment}: bad path`);
  const root: unknown = data && typeof data === 'object' ? data : {};
  let node = root as Record<string, unknown>;
  for (const [i, key] of path.entries()) {
    if (i === path.length - 1) {
      node[key] = value;
      break;
    }
    const next = node[key];
    if (!next || typeof next !== 'object') node[key] = /^\d+$/.test(path[i + 1]!) ? [] : {};
    node = node[key] as Record<string, unknown>;
  }
  return root;
}

/** Every `--set` value of the command line (citty keeps only the last of a repeated option). */
export function setFlags(rawArgs: readonly string[]): string[] {
  const values: string[] = [];
  for (let i = 0; i < rawArgs.length; i++) {
    const arg = rawArgs[i]!;
    if (arg === '--') break;
    if (arg === '--set') values.push(rawArgs[++i] ?? '');
    else if (arg.startsWith('--set=')) values.push(arg.slice(6));
  }
  return values;
}
