/**
 * Refuses, before any route code, what zod, object spreads or Postgres would drop or choke on, so a
 * client's mistake is a clear problem instead of a silent change of meaning or a 500:
 * - a JSON body over 1 MiB (413 `payload_too_large`), not UTF-8 or not JSON (400 `malformed_json`);
 * - a body nesting deeper than {@link MAX_BODY_DEPTH} (422 `body_too_deep`);
 * - a prototype key (`__proto__`, `constructor`, `prototype`) anywhere in a body (422
 *   `forbidden_key`): `JSON.parse` keeps `__proto__` as an own key, but zod records and spreads drop
 *   it, so `{"where": {"__proto__": …}}` would quietly become a filter matching everything;
 * - a NUL or an unpaired surrogate in a body key or string, or in a query parameter (422
 *   `invalid_text`): Postgres refuses both in text and jsonb;
 * - a number JSON cannot carry (`1e309` parses as Infinity and would be stored as null; 422
 *   `invalid_number`).
 * Each 422 names the field with a JSON pointer. The plugin dry-run's sample event `data` is producer data,
 * as at ingest, so only its text is checked.
 */
import { createMiddleware } from 'hono/factory';
import { problem, ProblemError, type FieldError } from '../../lib/problem';
import { readBody } from '../body';
import type { AppEnv } from '../context';
import { errorMessage } from '../../lib/errors';

export const MAX_BODY_DEPTH = 64;
export const PROTOTYPE_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

const JSON_TYPE = /^application\/([a-z-.]+\+)?json\s*(;|$)/i;
// a NUL, a high surrogate not followed by a low one, or a low one not preceded by a high one
const BAD_TEXT = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const DRY_RUN_PATH = /^\/v1\/tenants\/[^/]+\/plugins\/[^/]+\/test$/;

const escapePointer = (key: string) => key.replace(/~/g, '~0').replace(/\//g, '~1');

/** Why a string cannot be stored as text, or null when it can. */
export function textProblem(value: string): string | null {
  const bad = BAD_TEXT.exec(value);
  if (!bad) return null;
  return bad[0] === '\u0000' ? 'text may not contain NUL (\\u0000)' : 'text may not contain an unpaired UTF-16 surrogate';
}

/** The first problem in a parsed JSON value: depth, prototype keys (unless `allowKeys` says so), text. */
export function jsonProblem(
  value: unknown,
  pointer = '',
  allowKeys: (pointer: string) => boolean = () => false,
  depth = 0,
): { code: string; error: FieldError } | null {
  if (typeof value === 'string') {
    const text = textProblem(value);
    return text ? { code: 'invalid_text', error: { pointer: pointer || '/', detail: text } } : null;
  }
  if (typeof value === 'number' && !Number.isFinite(value)) {
    // JSON.parse reads 1e309 as Infinity, which JSON.stringify stores as null: a silent change of meaning
    return { code: 'invalid_number', error: { pointer: pointer || '/', detail: 'a number beyond ±1.7976931348623157e308 (a double) cannot be stored' } };
  }
  if (typeof value !== 'object' || value === null) return null;
  if (depth >= MAX_BODY_DEPTH) return { code: 'body_too_deep', error: { pointer, detail: `a request body may nest at most ${MAX_BODY_DEPTH} levels` } };
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = jsonProblem(value[i], `${pointer}/${i}`, allowKeys, depth + 1);
      if (found) return found;
    }
    return null;
  }
  for (const [key, inner] of Object.entries(value)) {
    const at = `${pointer}/${escapePointer(key)}`;
    const text = textProblem(key);
    if (text) return { code: 'invalid_text', error: { pointer: at, detail: `the key: ${text}` } };
    if (PROTOTYPE_KEYS.has(key) && !allowKeys(at)) {
      return { code: 'forbidden_key', error: { pointer: at, detail: `"${key}" is not allowed as a key: it names the JavaScript object prototype` } };
    }
    const found = jsonProblem(inner, at, allowKeys, depth + 1);
    if (found) return found;
  }
  return null;
}

const refuse = (found: { code: string; error: FieldError }, where: string) =>
  new ProblemError(problem(422, found.code, `${where} is invalid at ${found.error.pointer}: ${found.error.detail}`, { errors: [found.error] }));

export const inputGuard = createMiddleware<AppEnv>(async function inputGuard(c, next) {
  for (const [name, values] of new URL(c.req.url).searchParams.entries()) {
    const text = textProblem(name) ?? textProblem(values);
    if (text) throw refuse({ code: 'invalid_text', error: { pointer: `/${escapePointer(name)}`, detail: text } }, 'the query');
  }
  const type = c.req.header('content-type');
  // (`/v1/tenants/*` matches `/v1/tenants` too, so this can run twice: the body is checked once)
  const read = Object.keys(c.req.bodyCache).length > 0;
  if (read || c.req.method === 'GET' || c.req.method === 'HEAD' || !type || !JSON_TYPE.test(type) || !c.req.raw.body) return next();
  const bytes = await readBody(c.req.raw);
  let text: string;
  let parsed: unknown;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
    // an empty optional body is the route's to judge
    parsed = text.trim() === '' ? undefined : JSON.parse(text);
  } catch (error) {
    throw new ProblemError(problem(400, 'malformed_json', `the request body is not JSON: ${errorMessage(error)}`));
  }
  const dryRun = DRY_RUN_PATH.test(c.req.path);
  const found = jsonProblem(parsed, '', (at) => dryRun && at.startsWith('/event/data/'));
  if (found) throw refuse(found, 'the request body');
  // the route's validator reads the body from here, the stream being spent (Hono caches promises,
  // though its type says string)
  c.req.bodyCache.text = Promise.resolve(text) as unknown as string;
  return next();
});
