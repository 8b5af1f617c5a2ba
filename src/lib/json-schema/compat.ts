/**
 * Schema evolution: whether a new version of an event type's JSON Schema may follow the previous one
 * under the type's compatibility mode. `backward`: the new version accepts every value the previous
 * one accepted (consumers on the new schema read old events); `forward`: the previous version accepts
 * every value the new one accepts (consumers still on the old schema read new events); `full`: both.
 *
 * Each direction asks whether one schema (the *narrow* side) is a subset of another (the *wide* side),
 * walked structurally: types (integer ⊂ number), enum/const (each listed value is run through the wide
 * schema's validator), numeric and length bounds, pattern/format/multipleOf, required, properties with
 * additionalProperties/patternProperties, tuple and item schemas, allOf and `$ref`s inside the document
 * (recursion is assumed to hold where it loops back). anyOf is taken apart branch by branch; oneOf,
 * not, if/then/else, contains, dependent* and unevaluated* are proven only when both versions say the
 * same thing. What cannot be proven is a reason too ("cannot prove compatible"): a refusal errs on the
 * safe side, and mode `none` is the way past it. The walk is bounded by MAX_COMPAT_STEPS.
 */
import { deepCompareStrict } from '@cfworker/json-schema';
import { errorMessage } from '../errors';
import { compileLinearRegex } from '../linear-regex';
import type { FieldError } from '../problem';
import {
  type Bound,
  child,
  expand,
  hasRef,
  intersectTypes,
  itemAt,
  kw,
  numericBound,
  type Part,
  prefixLength,
  prepareDoc,
  type SchemaDoc,
  tightest,
  typesOf,
  within,
} from './compat-parts';

export const COMPATIBILITY_MODES = ['none', 'backward', 'forward', 'full'] as const;
export type CompatibilityMode = (typeof COMPATIBILITY_MODES)[number];
export const DEFAULT_COMPATIBILITY: CompatibilityMode = 'backward';

/** Pairs of subschemas compared per check; past it the answer is "cannot prove compatible". */
export const MAX_COMPAT_STEPS = 20_000;
export const MAX_COMPAT_REASONS = 20;
/** Listed values (enum) checked one by one against the other version; a longer list is compared as a whole. */
const MAX_FINITE_VALUES = 1_000;
/** Keywords proven only when both versions hold the same value. */
const SAME_ONLY = [
  'not',
  'contains',
  'minContains',
  'maxContains',
  'unevaluatedItems',
  'propertyNames',
  'dependentRequired',
  'dependentSchemas',
  'dependencies',
  'unevaluatedProperties',
];

interface Walk {
  narrow: SchemaDoc;
  wide: SchemaDoc;
  /** The side that is the version being registered: reasons point into it. */
  newSide: 'narrow' | 'wide';
  names: { narrow: string; wide: string };
  budget: { left: number; spent: boolean };
  proven: Set<string>;
  active: Set<string>;
  /** Null during a trial (an anyOf branch): only whether the subset holds matters. */
  reasons: FieldError[] | null;
  ids: Map<object, number>;
}

/**
 * Reasons (JSON pointers into the new schema under `/schema`, details naming the data location) why
 * `next` may not follow `previous` under `mode`; empty when it may. Both schemas must have compiled.
 */
export function compatibilityProblems(previous: unknown, next: unknown, mode: CompatibilityMode): FieldError[] {
  if (mode === 'none') return [];
  try {
    return compare(previous, next, mode);
  } catch (error) {
    // a schema the comparison cannot take apart, or a walk deeper than the stack: not proven
    return [
      {
        pointer: '/schema',
        detail: `cannot prove compatible: ${error instanceof RangeError ? 'the schemas nest too deeply to compare' : errorMessage(error)}`,
      },
    ];
  }
}

function compare(previous: unknown, next: unknown, mode: Exclude<CompatibilityMode, 'none'>): FieldError[] {
  const older = prepareDoc(previous);
  const newer = prepareDoc(next);
  const reasons: FieldError[] = [];
  const budget = { left: MAX_COMPAT_STEPS, spent: false };
  const run = (narrow: SchemaDoc, wide: SchemaDoc, newSide: Walk['newSide'], names: Walk['names']) => {
    const walk: Walk = { narrow, wide, newSide, names, budget, proven: new Set(), active: new Set(), reasons, ids: new Map() };
    subset(walk, [{ node: narrow.root, loc: '' }], [{ node: wide.root, loc: '' }], '');
  };
  if (mode === 'backward' || mode === 'full') run(older, newer, 'wide', { narrow: 'previous', wide: 'new' });
  if (mode === 'forward' || mode === 'full') run(newer, older, 'narrow', { narrow: 'new', wide: 'previous' });
  // a check that ran out of steps (in a trial too) failed for that alone: never a silent pass
  if (budget.spent)
    reasons.unshift({ pointer: '/schema', detail: `cannot prove compatible: comparing these schemas takes more than ${MAX_COMPAT_STEPS} steps` });
  return reasons.slice(0, MAX_COMPAT_REASONS);
}

function report(w: Walk, narrow: readonly Part[], wide: Part, path: string, keyword: string, text: string): false {
  // past the step budget, a check fails for want of steps: the budget's own reason says so
  if (!w.reasons || w.reasons.length >= MAX_COMPAT_REASONS || w.budget.spent) return false;
  // `keyword` may go on below the keyword (`properties/sku`); the pointer names it only where the node has it
  const first = keyword.split('/')[0]!;
  const holds = (p: Part) => typeof p.node === 'object' && first !== '' && Object.hasOwn(p.node, first);
  const at = w.newSide === 'wide' ? wide : (narrow.find(holds) ?? narrow[0] ?? wide);
  const has = holds(at);
  const reason = { pointer: `/schema${at.loc}${has ? `/${keyword}` : ''}`, detail: `/data${path}: ${text}` };
  // once per place in the schema, also where a recursive schema reaches it again deeper in the data
  if (!w.reasons.some((r) => r.pointer === reason.pointer && r.detail.endsWith(`: ${text}`))) w.reasons.push(reason);
  return false;
}

/** Which pair of subschema lists this is (node identity plus what was taken apart), for memo and recursion. */
function pairKey(w: Walk, narrow: readonly Part[], wide: readonly Part[]): string {
  const id = (part: Part) => {
    if (typeof part.node !== 'object') return part.node ? 'T' : 'F';
    let n = w.ids.get(part.node);
    if (n === undefined) w.ids.set(part.node, (n = w.ids.size));
    return `${n}${part.done ? `:${part.done}` : ''}`;
  };
  // the two documents are different objects, so one id space serves both sides
  return `${narrow.map(id).sort().join(',')}|${wide.map(id).sort().join(',')}`;
}

const markDone = (part: Part, key: string) => {
  part.done = part.done ? `${part.done},${key}` : key;
};

/** The same keyword value on both sides, and any `$ref` inside it points into identical definitions. */
function same(w: Walk, narrow: Part, wide: Part, key: string): boolean {
  const a = kw(narrow, key);
  const b = kw(wide, key);
  if (a === undefined || !deepCompareStrict(a, b)) return false;
  if (!hasRef(a)) return true;
  const defs = (doc: SchemaDoc, k: string) => (typeof doc.root === 'object' ? doc.root[k] : undefined);
  const refs = JSON.stringify(a).match(/"\$ref":"[^"]*"/g) ?? [];
  return (
    refs.every((r) => r.startsWith('"$ref":"#/$defs/') || r.startsWith('"$ref":"#/definitions/')) &&
    deepCompareStrict(defs(w.narrow, '$defs'), defs(w.wide, '$defs')) &&
    deepCompareStrict(defs(w.narrow, 'definitions'), defs(w.wide, 'definitions'))
  );
}

/** True when every value `narrow` (all parts together) accepts, `wide` (all parts) accepts too. */
function subset(w: Walk, narrowIn: readonly Part[], wideIn: readonly Part[], path: string): boolean {
  if (--w.budget.left < 0) {
    w.budget.spent = true;
    return false;
  }
  const narrow = expand(w.narrow, narrowIn);
  const wide = expand(w.wide, wideIn);
  if (!narrow || !wide) return report(w, narrowIn, wideIn[0]!, path, '$ref', 'cannot prove compatible: a $ref chain leads back to itself');
  if (narrow.some((p) => p.node === false)) return true;
  const key = pairKey(w, narrow, wide);
  if (w.proven.has(key) || w.active.has(key)) return true;
  for (const wp of wide) {
    for (const k of ['anyOf', 'oneOf']) {
      const twin = kw(wp, k) !== undefined ? narrow.find((np) => same(w, np, wp, k)) : undefined;
      if (twin) {
        markDone(wp, k);
        markDone(twin, k);
      }
    }
  }
  w.active.add(key);
  let ok = true;
  const split = narrow.findIndex((p) => Array.isArray(kw(p, 'anyOf')) || Array.isArray(kw(p, 'oneOf')));
  if (split >= 0) {
    // a value of the narrow side matches one branch (oneOf: exactly one, a subset of anyOf's)
    const part = narrow[split]!;
    const k = Array.isArray(kw(part, 'anyOf')) ? 'anyOf' : 'oneOf';
    const rest = narrow.map((p, i) => (i === split ? { ...p, done: p.done ? `${p.done},${k}` : k } : p));
    for (const i of (kw(part, k) as unknown[]).keys()) {
      if (subset(w, [...rest, child(w.narrow, part, [k, i])], wide, path)) continue;
      ok = false;
      if (!w.reasons) break;
    }
  } else {
    for (const wp of wide) {
      if (fits(w, narrow, wp, path)) continue;
      ok = false;
      if (!w.reasons) break;
    }
  }
  w.active.delete(key);
  if (ok) w.proven.add(key);
  return ok;
}

/** The values the narrow side lists (const/enum), when it lists them; checked against the wide validator. */
function finiteValues(narrow: readonly Part[]): unknown[] | undefined {
  let values: unknown[] | undefined;
  for (const part of narrow) {
    const constant = kw(part, 'const');
    const listed = constant !== undefined ? [constant] : Array.isArray(kw(part, 'enum')) ? (kw(part, 'enum') as unknown[]) : undefined;
    if (!listed) continue;
    values = values ? values.filter((v) => listed.some((l) => deepCompareStrict(l, v))) : listed;
  }
  return values && values.length <= MAX_FINITE_VALUES ? values : undefined;
}

/** One part of the wide side against all of the narrow side (already expanded, anyOf/oneOf taken apart). */
function fits(w: Walk, narrow: readonly Part[], wp: Part, path: string): boolean {
  const { names } = w;
  if (wp.node === true) return true;
  const bad = (keyword: string, text: string) => report(w, narrow, wp, path, keyword, text);
  if (wp.node === false) return bad('', `the ${names.wide} version accepts no value here, the ${names.narrow} version does`);
  const values = finiteValues(narrow);
  if (values) {
    const refused = values.filter((v) => !w.wide.accepts(wp.node, v));
    for (const v of refused.slice(0, 5))
      bad('enum', `value ${JSON.stringify(v).slice(0, 100)} is accepted by the ${names.narrow} version but not by the ${names.wide}`);
    return refused.length === 0;
  }
  let ok = true;
  const fail = (keyword: string, text: string) => {
    ok = false;
    bad(keyword, text);
  };
  const anyOf = kw(wp, 'anyOf');
  if (Array.isArray(anyOf)) {
    const trial: Walk = { ...w, reasons: null };
    if (!anyOf.some((_, i) => subset(trial, narrow, [child(w.wide, wp, ['anyOf', i])], path)))
      fail('anyOf', `cannot prove compatible: no branch of anyOf in the ${names.wide} version accepts every value the ${names.narrow} version accepts`);
  }
  if (kw(wp, 'oneOf') !== undefined) fail('oneOf', 'cannot prove compatible: oneOf differs between the versions');

  const narrowTypes = intersectTypes(narrow);
  const wideTypes = typesOf(wp);
  const live = new Set([...narrowTypes].filter((t) => wideTypes.has(t) || (t === 'integer' && wideTypes.has('number'))));
  const lost = [...narrowTypes].filter((t) => !live.has(t));
  if (lost.length > 0) fail('type', `type ${lost.join(', ')} is accepted by the ${names.narrow} version but not by the ${names.wide}`);
  if (live.size === 0) return ok;
  for (const k of ['enum', 'const'])
    if (kw(wp, k) !== undefined)
      fail(k, `the ${names.wide} version allows only listed values (${k}) where the ${names.narrow} version allows any ${[...live].join('/')}`);
  const sameOrAbsent = (np: Part, k: string) => kw(wp, k) === undefined || same(w, np, wp, k);
  if (kw(wp, 'if') !== undefined && !narrow.some((np) => same(w, np, wp, 'if') && sameOrAbsent(np, 'then') && sameOrAbsent(np, 'else')))
    fail('if', 'cannot prove compatible: if/then/else differs between the versions');
  for (const k of SAME_ONLY)
    if (kw(wp, k) !== undefined && !narrow.some((np) => same(w, np, wp, k))) fail(k, `cannot prove compatible: ${k} differs between the versions`);

  const counted = (min: string, max: string, what: string) => {
    const bound = (p: Part, k: string): Bound | undefined => (typeof kw(p, k) === 'number' ? { value: kw(p, k) as number, exclusive: false } : undefined);
    for (const [k, side] of [
      [min, 'min'],
      [max, 'max'],
    ] as const) {
      const wb = bound(wp, k);
      // a count is never below 0, so no lower bound is a bound of 0
      const nb = tightest([...narrow.map((p) => bound(p, k)), side === 'min' ? { value: 0, exclusive: false } : undefined], side);
      if (!within(nb, wb, side))
        fail(k, `${k} ${wb?.value} in the ${names.wide} version is tighter than ${nb ? nb.value : 'none'} in the ${names.narrow} (${what})`);
    }
  };
  if (live.has('number') || live.has('integer')) {
    for (const side of ['min', 'max'] as const) {
      const wb = numericBound(wp, side);
      const nb = tightest(
        narrow.map((p) => numericBound(p, side)),
        side,
      );
      const keyword = side === 'min' ? (wb?.exclusive ? 'exclusiveMinimum' : 'minimum') : wb?.exclusive ? 'exclusiveMaximum' : 'maximum';
      const show = (b: Bound | undefined) => (b ? `${b.exclusive ? (side === 'min' ? '>' : '<') : side === 'min' ? '≥' : '≤'} ${b.value}` : 'none');
      if (!within(nb, wb, side)) fail(keyword, `${keyword} ${show(wb)} in the ${names.wide} version is tighter than ${show(nb)} in the ${names.narrow}`);
    }
    const m = kw(wp, 'multipleOf');
    const multiple = (k: unknown) => typeof k === 'number' && typeof m === 'number' && Math.abs(k / m - Math.round(k / m)) < 1e-9;
    if (typeof m === 'number' && !(m === 1 && !live.has('number')) && !narrow.some((np) => multiple(kw(np, 'multipleOf'))))
      fail('multipleOf', `multipleOf ${m} in the ${names.wide} version is not implied by the ${names.narrow}`);
  }
  if (live.has('string')) {
    counted('minLength', 'maxLength', 'string length');
    for (const k of ['pattern', 'format']) {
      const value = kw(wp, k);
      if (typeof value === 'string' && !narrow.some((np) => kw(np, k) === value))
        fail(k, `${k} ${JSON.stringify(value)} in the ${names.wide} version is not in the ${names.narrow}`);
    }
  }
  if (live.has('array')) {
    counted('minItems', 'maxItems', 'array length');
    if (kw(wp, 'uniqueItems') === true && !narrow.some((np) => kw(np, 'uniqueItems') === true))
      fail('uniqueItems', `uniqueItems in the ${names.wide} version is not in the ${names.narrow}`);
    const maxItems = Math.min(...narrow.map((p) => (typeof kw(p, 'maxItems') === 'number' ? (kw(p, 'maxItems') as number) : Infinity)));
    const positions = Math.min(maxItems, Math.max(prefixLength(wp), ...narrow.map(prefixLength)));
    for (let i = 0; i < positions; i++)
      if (
        !subset(
          w,
          narrow.map((p) => itemAt(w.narrow, p, i)),
          [itemAt(w.wide, wp, i)],
          `${path}/${i}`,
        )
      )
        ok = false;
    if (
      maxItems > positions &&
      !subset(
        w,
        narrow.map((p) => itemAt(w.narrow, p, 'rest')),
        [itemAt(w.wide, wp, 'rest')],
        `${path}/*`,
      )
    )
      ok = false;
  }
  if (live.has('object')) {
    counted('minProperties', 'maxProperties', 'property count');
    if (!objects(w, narrow, wp, path, fail)) ok = false;
  }
  return ok;
}

const patternCache = new Map<string, ReturnType<typeof compileLinearRegex>>();
function matches(pattern: string, name: string): boolean {
  let compiled = patternCache.get(pattern);
  if (!compiled) {
    if (patternCache.size > 1_000) patternCache.clear();
    patternCache.set(pattern, (compiled = compileLinearRegex(pattern)));
  }
  // a pattern that does not compile was refused at registration; matching it conservatively everywhere
  return compiled.ok ? compiled.test(name) : true;
}

/** The subschemas that apply to property `name` of a part: its own, the matching patterns', else additionalProperties. */
function propertyParts(doc: SchemaDoc, part: Part, name: string): Part[] {
  const out: Part[] = [];
  const properties = kw(part, 'properties');
  if (properties && typeof properties === 'object' && Object.hasOwn(properties, name)) out.push(child(doc, part, ['properties', name]));
  const patterns = kw(part, 'patternProperties');
  if (patterns && typeof patterns === 'object')
    for (const p of Object.keys(patterns)) if (matches(p, name)) out.push(child(doc, part, ['patternProperties', p]));
  return out.length > 0 ? out : [child(doc, part, ['additionalProperties'])];
}

function objects(w: Walk, narrow: readonly Part[], wp: Part, path: string, fail: (keyword: string, text: string) => void): boolean {
  const { names } = w;
  let ok = true;
  const required = new Set(narrow.flatMap((p) => (Array.isArray(kw(p, 'required')) ? (kw(p, 'required') as string[]) : [])));
  const wideRequired = kw(wp, 'required');
  if (Array.isArray(wideRequired))
    for (const name of wideRequired as string[])
      if (!required.has(name)) fail('required', `"${name}" is required by the ${names.wide} version but not by the ${names.narrow}`);
  const declared = (p: Part) => Object.keys((kw(p, 'properties') as object | undefined) ?? {});
  const wideNames = declared(wp);
  const narrowNames = new Set(narrow.flatMap(declared));
  const all = new Set([...narrowNames, ...wideNames]);
  for (const name of all) {
    const nParts = narrow.flatMap((p) => propertyParts(w.narrow, p, name));
    const wParts = propertyParts(w.wide, wp, name);
    const escaped = name.replaceAll('~', '~0').replaceAll('/', '~1');
    const at = `${path}/${escaped}`;
    if (wParts.length === 1 && wParts[0]!.node === false && !nParts.some((p) => p.node === false)) {
      fail(
        wideNames.includes(name) ? `properties/${escaped}` : 'additionalProperties',
        `property "${name}" is allowed by the ${names.narrow} version but not by the ${names.wide}`,
      );
      continue;
    }
    const open = !narrowNames.has(name);
    if (open && !subset({ ...w, reasons: null }, nParts, wParts, at)) {
      ok = false;
      fail(
        `properties/${escaped}`,
        `property "${name}" has a schema in the ${names.wide} version, while the ${names.narrow} version leaves it open (any value was allowed): close the object with additionalProperties: false to add properties compatibly`,
      );
      continue;
    }
    if (!subset(w, nParts, wParts, at)) ok = false;
  }
  const widePatterns = kw(wp, 'patternProperties');
  if (widePatterns !== undefined && !narrow.some((np) => same(w, np, wp, 'patternProperties')))
    fail('patternProperties', 'cannot prove compatible: patternProperties differs between the versions');
  // names neither side declares: each narrow part allows them through additionalProperties or one of
  // its own patterns (either may apply), the wide part through its additionalProperties
  const wideRest = child(w.wide, wp, ['additionalProperties']);
  const alternatives = (p: Part) => {
    const patterns = kw(p, 'patternProperties');
    const own = patterns && typeof patterns === 'object' && !same(w, p, wp, 'patternProperties') ? Object.keys(patterns) : [];
    return [child(w.narrow, p, ['additionalProperties']), ...own.map((k) => child(w.narrow, p, ['patternProperties', k]))];
  };
  const trial: Walk = { ...w, reasons: null };
  if (!narrow.some((p) => alternatives(p).every((a) => subset(trial, [a], [wideRest], `${path}/*`)))) {
    ok = false;
    if (wideRest.node === false)
      fail(
        'additionalProperties',
        `properties other than ${wideNames.map((n) => `"${n}"`).join(', ') || 'none'} are allowed by the ${names.narrow} version but not by the ${names.wide}`,
      );
    else for (const a of alternatives(narrow[0]!)) subset(w, [a], [wideRest], `${path}/*`);
  }
  return ok;
}
