/**
 * The subscription `where` language (delivery/filter.ts) translated to SQL over the stored CloudEvent
 * (`events.event`, jsonb), with the same answer as `compileFilter(where).test(event)` for every event
 * read back from Postgres (the property test in test/http/events-search.test.ts checks this; event-search.ts runs it under a time limit). Only
 * call it with a `where` that `compileFilter` accepted. Every value travels as a parameter.
 *
 * The rules that make it exact:
 * - a path resolves like `resolve` in filter.ts: a digits-only segment indexes an array or names an
 *   object key (`#>`), any other segment names an object key (`->`); SQL NULL stands for undefined.
 * - every condition yields true or false, never NULL, so `$not` is a plain NOT.
 * - equality with a scalar on a path of object keys is jsonb containment (`{"data":{"k":v}}`), tested
 *   against the event without its envelope attributes ({@link SEARCH_DOCUMENT}), which the GIN index
 *   answers (migration 0026); on an envelope attribute it is tested against the whole event, with the
 *   column beside it where one is indexed (`type`, `id`). For objects and arrays containment only
 *   narrows and jsonb `=` decides. filter.ts compares objects by their JSON text, so an operand whose
 *   keys are not in the order the event has after Postgres stored it (see `jsonbOrder`) never matches.
 * - ordering operators compare numbers with numbers (jsonb numeric order agrees with doubles here,
 *   because stored numbers are written by JSON.stringify) and strings with strings in UTF-16 code
 *   unit order, as JavaScript does (`COLLATE "C"` is code point order; see `utf16Sortable`).
 * - `$contains`/`$startsWith`/`$endsWith` on strings are LIKE with the operand escaped.
 */

type Param = (value: unknown) => string;
type Path = () => string;

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const DIGITS = /^\d+$/;
// Postgres reads these as array indexes too (strtol), where filter.ts treats them as keys only
const INTEGER_LIKE = /^\s*[+-]?\d+\s*$/;
/** At most this many `@>` alternatives for one `$in`; longer lists are matched without the index. */
const MAX_CONTAINMENT_ALTERNATIVES = 32;

/**
 * Envelope attributes the search index leaves out: each has a column of its own or is unique per event
 * (an id, a time, a trace), so indexing it cost the most to write and served searches the least
 * (README "Searching events"). Spelled exactly as in migration 0026's index expression.
 */
const UNINDEXED_ATTRIBUTES = ['specversion', 'id', 'source', 'type', 'subject', 'time', 'datacontenttype', 'dataschema', 'traceparent', 'tracestate'] as const;
const UNINDEXED: ReadonlySet<string> = new Set(UNINDEXED_ATTRIBUTES);
/** The GIN index's expression (migration 0026): the planner uses the index only for this very expression. */
const SEARCH_DOCUMENT = `(event - '{${UNINDEXED_ATTRIBUTES.join(',')}}'::text[])`;
/** Envelope attributes kept in an indexed column of their own, which narrows an equality on a string. */
const ATTRIBUTE_COLUMNS: Readonly<Record<string, string>> = { type: 'type', id: 'ce_id' };

/** SQL for a validated `where` over the `event` column; `param` appends a parameter and returns its placeholder. */
export function whereToSql(where: unknown, param: Param): string {
  if (where === undefined || where === null) return 'true';
  return node(where as Record<string, unknown>, param);
}

function node(value: Record<string, unknown>, param: Param): string {
  const parts = Object.entries(value).map(([key, inner]) => {
    if (key === '$and' || key === '$or') {
      const list = (inner as Record<string, unknown>[]).map((item) => node(item, param));
      return `(${list.join(key === '$and' ? ' AND ' : ' OR ')})`;
    }
    if (key === '$not') return `(NOT ${node(inner as Record<string, unknown>, param)})`;
    return field(key.split('.'), inner, param);
  });
  return parts.length === 0 ? 'true' : `(${parts.join(' AND ')})`;
}

function field(segments: string[], condition: unknown, param: Param): string {
  // built on first use: a parameter no clause refers to would leave Postgres unable to type it
  let built: string | undefined;
  const path: Path = () => (built ??= pathExpression(segments, param));
  if (!isPlainObject(condition) || !Object.keys(condition).some((k) => k.startsWith('$'))) return equal(segments, path, condition, param);
  const checks = Object.entries(condition).map(([op, operand]) => operator(segments, path, op, operand, param));
  return `(${checks.join(' AND ')})`;
}

/** The jsonb at `segments` inside `event`, or SQL NULL where filter.ts finds undefined. */
function pathExpression(segments: string[], param: Param): string {
  let sql = 'event';
  let run: string[] = [];
  const flush = () => {
    if (run.length) sql = `(${sql} #> ${param(run)}::text[])`;
    run = [];
  };
  for (const segment of segments) {
    if (DIGITS.test(segment) || !INTEGER_LIKE.test(segment)) run.push(segment);
    else {
      flush();
      sql = `(${sql} -> ${param(segment)}::text)`;
    }
  }
  flush();
  return sql;
}

/** `{"a":{"b":value}}` for the path a.b, when every segment is an object key (no digits-only segment). */
function containment(segments: string[], value: unknown): string | null {
  if (segments.some((s) => DIGITS.test(s))) return null;
  let doc: unknown = value;
  for (const segment of [...segments].reverse()) {
    const wrap: Record<string, unknown> = {};
    Object.defineProperty(wrap, segment, { value: doc, enumerable: true, writable: true, configurable: true });
    doc = wrap;
  }
  return JSON.stringify(doc);
}

/**
 * `doc` (from {@link containment}) is contained in the event. Removing other top-level keys changes no
 * containment of one key, so a payload path is tested on {@link SEARCH_DOCUMENT}, which the index
 * answers; an envelope attribute on the whole event, and a string value of one with an indexed column
 * also by that column (implied by the containment, so the answer is the same, only found faster).
 */
function containing(segments: string[], doc: string, operand: unknown, param: Param): string {
  const attribute = segments[0]!;
  if (!UNINDEXED.has(attribute)) return `${SEARCH_DOCUMENT} @> ${param(doc)}::jsonb`;
  const column = segments.length === 1 && typeof operand === 'string' ? ATTRIBUTE_COLUMNS[attribute] : undefined;
  const whole = `event @> ${param(doc)}::jsonb`;
  return column ? `(${column} = ${param(operand)} AND ${whole})` : whole;
}

const isScalar = (v: unknown) => typeof v !== 'object' || v === null;

function equal(segments: string[], path: Path, operand: unknown, param: Param): string {
  if (!isScalar(operand) && !jsonbOrder(operand)) return 'false';
  const doc = containment(segments, operand);
  const same = () => `${path()} = ${param(JSON.stringify(operand))}::jsonb`;
  if (doc === null) return `coalesce(${same()}, false)`;
  const contains = containing(segments, doc, operand, param);
  return isScalar(operand) ? contains : `(${contains} AND ${same()})`;
}

function operator(segments: string[], path: Path, op: string, operand: unknown, param: Param): string {
  switch (op) {
    case '$eq':
      return equal(segments, path, operand, param);
    case '$ne':
      return `(NOT ${equal(segments, path, operand, param)})`;
    case '$in':
      return memberOf(segments, path, operand as unknown[], param);
    case '$nin':
      return `(NOT ${memberOf(segments, path, operand as unknown[], param)})`;
    case '$gt':
    case '$gte':
    case '$lt':
    case '$lte':
      return ordered(path, op, operand as number | string, param);
    case '$exists':
      return operand ? `(${path()} IS NOT NULL)` : `(${path()} IS NULL)`;
    case '$contains': {
      const inArray = `CASE WHEN jsonb_typeof(${path()}) = 'array' THEN ${elementEqual(path, operand, param)} ELSE false END`;
      if (typeof operand !== 'string') return `(${inArray})`;
      return `(${stringLike(path, `%${escapeLike(operand)}%`, param)} OR ${inArray})`;
    }
    case '$startsWith':
      return stringLike(path, `${escapeLike(operand as string)}%`, param);
    default:
      return stringLike(path, `%${escapeLike(operand as string)}`, param);
  }
}

function memberOf(segments: string[], path: Path, list: unknown[], param: Param): string {
  const scalars = list.filter(isScalar);
  const objects = list.filter((x) => !isScalar(x) && jsonbOrder(x));
  const parts: string[] = [];
  if (scalars.length > 0) {
    const docs = scalars.length <= MAX_CONTAINMENT_ALTERNATIVES ? scalars.map((s) => containment(segments, s)) : null;
    if (docs?.every((d) => d !== null)) parts.push(...docs.map((d, i) => containing(segments, d!, scalars[i], param)));
    else
      parts.push(
        `CASE WHEN ${path()} IS NULL OR jsonb_typeof(${path()}) IN ('object', 'array') THEN false ELSE ${param(JSON.stringify(scalars))}::jsonb @> jsonb_build_array(${path()}) END`,
      );
  }
  if (objects.length > 0) {
    parts.push(
      `CASE WHEN jsonb_typeof(${path()}) IN ('object', 'array') THEN EXISTS (SELECT 1 FROM jsonb_array_elements(${param(JSON.stringify(objects))}::jsonb) AS o(v) WHERE o.v = ${path()}) ELSE false END`,
    );
  }
  return parts.length === 0 ? 'false' : `(${parts.join(' OR ')})`;
}

/** Some element of the array at `path` equals `operand` (filter.ts `equalTo`). */
function elementEqual(path: Path, operand: unknown, param: Param): string {
  if (isScalar(operand)) return `${path()} @> ${param(JSON.stringify([operand]))}::jsonb`;
  if (!jsonbOrder(operand)) return 'false';
  return `EXISTS (SELECT 1 FROM jsonb_array_elements(${path()}) AS e(v) WHERE e.v = ${param(JSON.stringify(operand))}::jsonb)`;
}

const SQL_OPS: Record<string, string> = { $gt: '>', $gte: '>=', $lt: '<', $lte: '<=' };

function ordered(path: Path, op: string, operand: number | string, param: Param): string {
  const sqlOp = SQL_OPS[op]!;
  if (typeof operand === 'number') {
    return `CASE WHEN jsonb_typeof(${path()}) = 'number' THEN ${path()} ${sqlOp} ${param(JSON.stringify(operand))}::jsonb ELSE false END`;
  }
  const text = `(${path()} #>> '{}')`;
  const value = param(operand);
  const compare = needsUtf16Order(operand)
    ? `${utf16Sortable(text)} ${sqlOp} ${utf16Sortable(`${value}::text`)}`
    : `${text} COLLATE "C" ${sqlOp} ${value}::text COLLATE "C"`;
  return `CASE WHEN jsonb_typeof(${path()}) = 'string' THEN ${compare} ELSE false END`;
}

/**
 * Code point order (`COLLATE "C"`) and JavaScript's UTF-16 order differ only where one string has a
 * character from U+E000 to U+FFFF and the other one above U+FFFF at the first difference, which needs
 * the operand to hold a character from U+E000 up; only then is the slower exact form used.
 */
const needsUtf16Order = (s: string) => /[\uE000-\uFFFF\uD800-\uDBFF]/.test(s);

/**
 * A text whose code point order is the UTF-16 order of `sql`: U+E000–U+FFFF move above every
 * supplementary character by a U+10FFFF prefix, and a real U+10FFFF becomes U+10FFFF U+0001 so it
 * still sorts below them.
 */
function utf16Sortable(sql: string): string {
  const top = 'chr(1114111)';
  return `regexp_replace(regexp_replace(${sql}, ${top}, ${top} || chr(1), 'g'), '([\\uE000-\\uFFFF])', ${top} || '\\1', 'g') COLLATE "C"`;
}

function stringLike(path: Path, pattern: string, param: Param): string {
  return `CASE WHEN jsonb_typeof(${path()}) = 'string' THEN (${path()} #>> '{}') LIKE ${param(pattern)}::text ESCAPE '\\' ELSE false END`;
}

export const escapeLike = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);

/**
 * Whether filter.ts could find `operand` equal to a value read back from jsonb: it compares JSON
 * texts, and such a value's keys come in jsonb's order (shorter UTF-8 first, then by bytes), with
 * JavaScript moving integer-like keys to the front of every object.
 */
export function jsonbOrder(operand: unknown): boolean {
  return JSON.stringify(reorder(operand)) === JSON.stringify(operand);
}

function reorder(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reorder);
  if (!isPlainObject(value)) return value;
  const out: Record<string, unknown> = {};
  const keys = Object.keys(value).sort(compareJsonbKeys);
  for (const key of keys) Object.defineProperty(out, key, { value: reorder(value[key]), enumerable: true, writable: true, configurable: true });
  return out;
}

const encoder = new TextEncoder();
function compareJsonbKeys(a: string, b: string): number {
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  if (x.length !== y.length) return x.length - y.length;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return 0;
}
