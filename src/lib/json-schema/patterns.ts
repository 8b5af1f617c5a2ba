/**
 * Tenant schemas' `pattern` and `patternProperties` run in linear time. `@cfworker/json-schema`
 * evaluates them with `new RegExp(pattern, 'u').test(…)`, which backtracks (`^(a+)+$` against 30
 * a's and a "!" takes seconds, on the thread every tenant shares). So each pattern is compiled once
 * with `compileLinearRegex` (re2js) when the schema is registered, refused with its JSON pointer
 * when RE2 cannot run it, and while the library validates an event the global `RegExp` it calls
 * hands back those compiled matchers (`runBounded`). The swap is synchronous and undone in
 * `finally`, so no other code runs while it is in place; any other `new RegExp` (the `regex` format
 * compiling a data string) still gets the built-in engine.
 *
 * The same walk meters every subschema, so one event's validation stops after `EVALUATION_BUDGET`
 * evaluations (see `meter`), and drops the `format` values the library does not know: an unknown
 * format is an annotation, but the library looks it up in a plain object, so `"format": "__proto__"`
 * used to throw on every string and `"format": "hasOwnProperty"` to refuse them.
 */
import { format, ignoredKeyword, schemaArrayKeyword, schemaMapKeyword } from '@cfworker/json-schema';
import { compileLinearRegex } from '../linear-regex';
import { REQUEST_EVALUATION_BUDGET } from '../request-budget';

type Matcher = { size: number; test(input: string): boolean };
/** `pairwise`: the schema asks for `uniqueItems`, which costs items² (validate a `meteredView` of the data). */
export type SchemaPatterns = { ok: true; matchers: ReadonlyMap<string, Matcher>; pairwise: boolean } | { ok: false; pointer: string; error: string };

/**
 * Work allowed per validated event, in RE2 program size × input characters. Most patterns run on the
 * DFA far below this bound; in the worst case (the NFA) a unit takes about 10 ns, so ~0.3 s.
 */
export const PATTERN_BUDGET = 25_000_000;
/**
 * Subschema evaluations allowed per validated event (about 1 µs each). `$ref`s that fan out
 * (`allOf: [{$ref: next}, {$ref: next}]`, twenty levels deep) would otherwise evaluate millions of times.
 */
export const EVALUATION_BUDGET = 500_000;

/**
 * Distinct pattern text per schema, where a `\p{…}` counts as 100 characters: compiling a Unicode
 * property class takes ~70 µs in each engine, so 21 patterns of 150 `\p{L}` took 0.75 s to register.
 */
export const MAX_SCHEMA_PATTERN_CHARS = 16_384;
const PROPERTY_CLASS_WEIGHT = 100;
/**
 * Characters of data the `regex` format may compile per validated event. It has to use the built-in
 * engine (the question is whether the string is an ECMAScript regex), whose compiling is linear but
 * slow: 600 KB of `\p{L}` took 3 s.
 */
export const REGEX_FORMAT_BUDGET = 16_384;
/**
 * Reads of the event's data per validation when the schema has `uniqueItems`, which compares every
 * pair of items (a 20,000-item array took 10 s). A counted read costs 125–250 ns, so ~0.25 s; enough
 * for a unique array of about 1,000 numbers or 500 objects.
 */
export const READ_BUDGET = 1_000_000;

class OverBudget extends Error {}

// what is left while `runBounded` runs: evaluations (counted by the getter that `meter` puts on each
// subschema) and characters for the `regex` format
let evaluationsLeft: number | undefined;
let regexCharsLeft: number | undefined;
let readsLeft: number | undefined;

const builtInRegexFormat = format.regex!;
format.regex = (text) => {
  if (regexCharsLeft !== undefined && (regexCharsLeft -= text.length) < 0) throw new OverBudget('regexFormat');
  return builtInRegexFormat(text);
};

/**
 * The library reads `__absolute_recursive_ref__` from every object subschema it evaluates (it is set
 * only on `$recursiveRef` nodes), so a getter there counts evaluations without touching the output.
 */
function meter(node: Record<string, unknown>): void {
  // the library acts on `$recursiveRef: "#"` only; any other value is dead weight
  if (typeof node.$recursiveRef === 'string' && node.$recursiveRef !== '#') delete node.$recursiveRef;
  if (node.$recursiveRef !== undefined || Object.hasOwn(node, '__absolute_recursive_ref__')) return;
  Object.defineProperty(node, '__absolute_recursive_ref__', {
    enumerable: false,
    get() {
      if (evaluationsLeft !== undefined && --evaluationsLeft < 0) throw new OverBudget('evaluations');
      return undefined;
    },
  });
}
// the library's `url` format repeats `(?:[a-z…0-9]+-?)*` before `[a-z…0-9]+`, exponential on
// "http://aaaaaaaaaaaaaaaaaaaaaaaaaaaaa!"; `X+(?:-X+)*` accepts the same host labels in one pass,
// and `\S+@` the same user info as `\S+(?::\S*)?@` (quadratic on a run of colons)
format.url = RegExp.prototype.test.bind(
  /^(?:(?:https?|ftp):\/\/)(?:\S+@)?(?:(?!10(?:\.\d{1,3}){3})(?!127(?:\.\d{1,3}){3})(?!169\.254(?:\.\d{1,3}){2})(?!192\.168(?:\.\d{1,3}){2})(?!172\.(?:1[6-9]|2\d|3[0-1])(?:\.\d{1,3}){2})(?:[1-9]\d?|1\d\d|2[01]\d|22[0-3])(?:\.(?:1?\d{1,2}|2[0-4]\d|25[0-5])){2}(?:\.(?:[1-9]\d?|1\d\d|2[0-4]\d|25[0-4]))|(?:[a-z\u{00a1}-\u{ffff}0-9]+(?:-[a-z\u{00a1}-\u{ffff}0-9]+)*)(?:\.[a-z\u{00a1}-\u{ffff}0-9]+(?:-[a-z\u{00a1}-\u{ffff}0-9]+)*)*(?:\.(?:[a-z\u{00a1}-\u{ffff}]{2,})))(?::\d{2,5})?(?:\/[^\s]*)?$/iu,
);

// RFC 6901 (the library's `encodePointer` also percent-encodes, for URI fragments)
const encodePointer = (key: string) => key.replaceAll('~', '~0').replaceAll('/', '~1');

/** Compiles every pattern the validator could evaluate in `schema` (a private copy, which it edits). */
export function compileSchemaPatterns(schema: unknown): SchemaPatterns {
  const matchers = new Map<string, Matcher>();
  let chars = 0;
  let pairwise = false;
  const visit = (node: unknown, pointer: string): { pointer: string; error: string } | undefined => {
    if (!node || typeof node !== 'object' || Array.isArray(node)) return undefined;
    const record = node as Record<string, unknown>;
    meter(record);
    if (record.uniqueItems === true) pairwise = true;
    if (typeof record.format === 'string' && !Object.hasOwn(format, record.format)) delete record.format;
    const sources: Array<[string, string]> = [];
    if (typeof record.pattern === 'string') sources.push([record.pattern, `${pointer}/pattern`]);
    const patternProperties = record.patternProperties;
    if (patternProperties && typeof patternProperties === 'object') {
      for (const key of Object.keys(patternProperties)) sources.push([key, `${pointer}/patternProperties/${encodePointer(key)}`]);
    }
    for (const [source, at] of sources) {
      if (matchers.has(source)) continue;
      chars += source.length + PROPERTY_CLASS_WEIGHT * (source.match(/\\[pP]\{/g)?.length ?? 0);
      if (chars > MAX_SCHEMA_PATTERN_CHARS)
        return {
          pointer: at,
          error: `the schema's patterns have more than ${MAX_SCHEMA_PATTERN_CHARS} characters in all (a \\p{…} counts as ${PROPERTY_CLASS_WEIGHT})`,
        };
      const compiled = compileLinearRegex(source);
      if (!compiled.ok) return { pointer: at, error: compiled.error };
      matchers.set(source, compiled);
    }
    // the positions `dereference` treats as schemas, so that `$ref` targets are covered too
    for (const key in record) {
      if (ignoredKeyword[key]) continue;
      const value = record[key];
      const at = `${pointer}/${encodePointer(key)}`;
      const children: Array<[unknown, string]> = Array.isArray(value)
        ? schemaArrayKeyword[key]
          ? value.map((item, i) => [item, `${at}/${i}`])
          : []
        : schemaMapKeyword[key] && value && typeof value === 'object'
          ? Object.entries(value).map(([k, v]) => [v, `${at}/${encodePointer(k)}`])
          : [[value, at]];
      for (const [child, childPointer] of children) {
        const problem = visit(child, childPointer);
        if (problem) return problem;
      }
    }
    return undefined;
  };
  const problem = visit(schema, '');
  return problem ? { ok: false, ...problem } : { ok: true, matchers, pairwise };
}

const views = new WeakMap<object, object>();
const readCounter: ProxyHandler<object> = {
  get(target, key, receiver) {
    if (readsLeft !== undefined && --readsLeft < 0) throw new OverBudget('reads');
    const value: unknown = Reflect.get(target, key, receiver);
    return typeof value === 'object' && value !== null ? meteredView(value) : value;
  },
};

/**
 * The data as the library should see it when the schema is `pairwise`: the same values, with every
 * property read counted against `READ_BUDGET` inside `runBounded`. JSON data is never frozen, so
 * handing out views of nested objects keeps the proxy invariants.
 */
export function meteredView<T>(data: T): T {
  if (typeof data !== 'object' || data === null) return data;
  let view = views.get(data);
  if (!view) {
    if (Object.isFrozen(data)) return data;
    views.set(data, (view = new Proxy(data, readCounter)));
  }
  return view as T;
}

const TOO_MUCH = {
  patterns: `the schema's patterns would take too long on this event (more than ${PATTERN_BUDGET} steps); use shorter strings or simpler patterns`,
  evaluations: `the schema takes more than ${EVALUATION_BUDGET} subschema evaluations on this event; check $ref chains that repeat work`,
  request: `the schemas of this request's events take more than ${REQUEST_EVALUATION_BUDGET} subschema evaluations in all; send fewer events per request`,
  reads: `the schema needs more than ${READ_BUDGET} reads of this event's data; uniqueItems compares every pair of items, so keep such arrays under about 500 objects or 1,000 values`,
  regexFormat: `the strings checked against format "regex" in this event have more than ${REGEX_FORMAT_BUDGET} characters in all`,
};

/**
 * Runs `fn` (the library's synchronous validation of one event) within both budgets, with
 * `new RegExp(p, 'u')` answering the compiled matcher for each known `p`. `{ ok: false }` says which
 * budget ran out, or that the stack did (`{"$ref": "#"}`).
 */
export function runBounded<T>(
  matchers: ReadonlyMap<string, Matcher>,
  fn: () => T,
  shared?: { evaluations: number },
): { ok: true; value: T } | { ok: false; error: string } {
  const builtIn = globalThis.RegExp;
  let spent = 0;
  const metered = (matcher: Matcher) => ({
    test(input: string) {
      spent += matcher.size * (input.length + 1);
      if (spent > PATTERN_BUDGET) throw new OverBudget('patterns');
      return matcher.test(input);
    },
  });
  // biome-ignore lint/suspicious/noShadowRestrictedNames: the stand-in the library meets as `new RegExp(…)` keeps the name
  const linear = function RegExp(source: unknown, flags?: string) {
    const matcher = typeof source === 'string' && flags === 'u' ? matchers.get(source) : undefined;
    return matcher ? metered(matcher) : new builtIn(source as string, flags);
  };
  linear.prototype = builtIn.prototype;
  if (matchers.size > 0) globalThis.RegExp = linear as unknown as RegExpConstructor;
  const allowed = Math.min(EVALUATION_BUDGET, Math.max(0, shared?.evaluations ?? Infinity));
  evaluationsLeft = allowed;
  regexCharsLeft = REGEX_FORMAT_BUDGET;
  readsLeft = READ_BUDGET;
  try {
    return { ok: true, value: fn() };
  } catch (error) {
    if (error instanceof OverBudget) {
      const which = error.message === 'evaluations' && allowed < EVALUATION_BUDGET ? 'request' : error.message;
      return { ok: false, error: TOO_MUCH[which as keyof typeof TOO_MUCH] };
    }
    // the call stack: a `$ref` that leads back to itself without consuming the data, or errors by the million
    if (error instanceof RangeError)
      return { ok: false, error: 'the schema recurses without end on this event (for example a $ref that leads back to itself)' };
    throw error;
  } finally {
    globalThis.RegExp = builtIn;
    if (shared) shared.evaluations -= allowed - Math.max(0, evaluationsLeft ?? 0);
    evaluationsLeft = undefined;
    regexCharsLeft = undefined;
    readsLeft = undefined;
  }
}
