/**
 * Subscription filters: a Mongo-style `where` over the CloudEvent. Keys are dot paths into the event
 * (`data.amount`, `subject`, `data.items.0.sku`) or the combinators `$and`, `$or`, `$not`. A path maps to
 * a literal (equality) or to an object of operators: `$eq $ne $in $nin $gt $gte $lt $lte $exists
 * $contains $startsWith $endsWith`. Ordering operators compare numbers with numbers and strings with
 * strings only; anything else is simply not a match. Compiled once, run per event.
 */
import { includesLinear } from '../lib/substring';
import type { FieldProblem } from '../plugins/types';

export type Predicate = (event: Record<string, unknown>) => boolean;
export type CompiledFilter = { ok: true; test: Predicate } | { ok: false; errors: FieldProblem[] };

const MAX_DEPTH = 8;
const MAX_NODES = 200;
// spreads and zod drop `__proto__`, and these name the prototype, never an event's own field
const PROTOTYPE_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
const FIELD_OPS = new Set(['$eq', '$ne', '$in', '$nin', '$gt', '$gte', '$lt', '$lte', '$exists', '$contains', '$startsWith', '$endsWith']);

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function compileFilter(where: unknown): CompiledFilter {
  const errors: FieldProblem[] = [];
  let nodes = 0;
  const fail = (pointer: string, detail: string): (() => boolean) => {
    errors.push({ pointer, detail });
    return () => false;
  };

  function node(value: unknown, pointer: string, depth: number): Predicate {
    if (++nodes > MAX_NODES) return fail(pointer, `a filter may have at most ${MAX_NODES} conditions`);
    if (depth > MAX_DEPTH) return fail(pointer, `a filter may nest at most ${MAX_DEPTH} levels`);
    if (!isPlainObject(value)) return fail(pointer, 'expected an object of conditions');
    const parts = Object.entries(value).map(([key, inner]): Predicate => {
      const at = `${pointer}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;
      if (key === '$and' || key === '$or') {
        if (!Array.isArray(inner) || inner.length === 0) return fail(at, `${key} takes a non-empty array`);
        const list = inner.map((item, i) => node(item, `${at}/${i}`, depth + 1));
        return key === '$and' ? (e) => list.every((p) => p(e)) : (e) => list.some((p) => p(e));
      }
      if (key === '$not') {
        const inner2 = node(inner, at, depth + 1);
        return (e) => !inner2(e);
      }
      if (key.startsWith('$')) return fail(at, `unknown operator ${key}`);
      return field(key, inner, at);
    });
    return (e) => parts.every((p) => p(e));
  }

  function field(path: string, condition: unknown, pointer: string): Predicate {
    const segments = path.split('.');
    if (segments.some((s) => s === '')) return fail(pointer, 'paths are dot-separated names');
    const reserved = segments.find((s) => PROTOTYPE_KEYS.has(s));
    if (reserved) return fail(pointer, `"${reserved}" is not allowed in a path: it names the JavaScript object prototype`);
    const read = (e: Record<string, unknown>) => resolve(e, segments);
    if (!isPlainObject(condition) || !Object.keys(condition).some((k) => k.startsWith('$'))) {
      const equal = equalTo(condition);
      return (e) => equal(read(e));
    }
    const checks = Object.entries(condition).map(([op, operand]) => {
      const at = `${pointer}/${op}`;
      if (!FIELD_OPS.has(op)) return fail(at, `unknown operator ${op}`);
      return operator(op, operand, at);
    });
    return (e) => {
      const value = read(e);
      return checks.every((check) => check(value));
    };
  }

  function operator(op: string, operand: unknown, pointer: string): (value: unknown) => boolean {
    switch (op) {
      case '$eq':
        return equalTo(operand);
      case '$ne': {
        const equal = equalTo(operand);
        return (v) => !equal(v);
      }
      case '$in':
      case '$nin': {
        if (!Array.isArray(operand)) return fail(pointer, `${op} takes an array`);
        const isIn = memberOf(operand);
        return op === '$in' ? isIn : (v) => !isIn(v);
      }
      case '$gt':
      case '$gte':
      case '$lt':
      case '$lte': {
        if (typeof operand !== 'number' && typeof operand !== 'string') return fail(pointer, `${op} takes a number or a string`);
        return (v) => {
          if (typeof v !== typeof operand) return false;
          const a = v as number | string;
          return op === '$gt' ? a > operand : op === '$gte' ? a >= operand : op === '$lt' ? a < operand : a <= operand;
        };
      }
      case '$exists':
        if (typeof operand !== 'boolean') return fail(pointer, '$exists takes true or false');
        return (v) => (v !== undefined) === operand;
      case '$contains': {
        const equal = equalTo(operand);
        return (v) => (typeof v === 'string' && typeof operand === 'string' ? includesLinear(v, operand) : Array.isArray(v) && v.some(equal));
      }
      default: {
        if (typeof operand !== 'string') return fail(pointer, `${op} takes a string`);
        return op === '$startsWith' ? (v) => typeof v === 'string' && v.startsWith(operand) : (v) => typeof v === 'string' && v.endsWith(operand);
      }
    }
  }

  if (where === undefined || where === null) return { ok: true, test: () => true };
  const test = node(where, '', 0);
  return errors.length ? { ok: false, errors } : { ok: true, test };
}

function resolve(value: unknown, segments: string[]): unknown {
  let current = value;
  for (const segment of segments) {
    if (Array.isArray(current) && /^\d+$/.test(segment)) current = current[Number(segment)];
    else if (isPlainObject(current) && Object.hasOwn(current, segment)) current = current[segment];
    else return undefined;
  }
  return current;
}

// Objects are equal when their JSON texts are; the operand's is computed once per filter rather than
// once per comparison: `$in` of 100,000 objects against 1 MiB of data would otherwise serialize it 100,000 times.
function equalTo(operand: unknown): (value: unknown) => boolean {
  if (typeof operand !== 'object' || operand === null) return (v) => v === operand;
  const json = JSON.stringify(operand);
  return (v) => typeof v === 'object' && v !== null && jsonOf(v) === json;
}

function memberOf(list: unknown[]): (value: unknown) => boolean {
  const isObject = (x: unknown) => typeof x === 'object' && x !== null;
  const primitives = new Set(list.filter((x) => !isObject(x)));
  const objects = new Set(list.filter(isObject).map((x) => JSON.stringify(x)));
  return (v) => (isObject(v) ? objects.size > 0 && objects.has(jsonOf(v as object)) : primitives.has(v));
}

// The event's side is serialized once per object per event, not once per check: planDeliveries parses
// an event once and runs every subscription's filter on it, and 500 subscriptions × 200 conditions
// comparing `data` with an object would otherwise serialize 1.5 MiB of data 100,000 times.
const serialized = new WeakMap<object, string>();
function jsonOf(value: object): string {
  let json = serialized.get(value);
  if (json === undefined) {
    json = JSON.stringify(value);
    serialized.set(value, json);
  }
  return json;
}
