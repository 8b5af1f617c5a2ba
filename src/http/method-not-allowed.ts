/**
 * 405 instead of 404 when the path exists with other methods: `GET /v1/ingest/{id}` answers
 * `405 method_not_allowed` with `Allow: POST`, so a client learns what it got wrong.
 */
import { problem, type Problem } from '../lib/problem';

interface RouteEntry {
  path: string;
  method: string;
}

type Matcher = { pattern: RegExp; method: string };

const compiled = new WeakMap<readonly RouteEntry[], Matcher[]>();

function matchersOf(routes: readonly RouteEntry[]): Matcher[] {
  let matchers = compiled.get(routes);
  if (!matchers) {
    matchers = routes
      // middleware is registered for ALL methods and says nothing about what a path answers
      .filter((r) => r.method !== 'ALL' && !r.path.includes('*'))
      .map((r) => ({ method: r.method, pattern: new RegExp(`^${r.path.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\/:[^/]+/g, '/[^/]+')}$`) }));
    compiled.set(routes, matchers);
  }
  return matchers;
}

/** A 405 problem naming the methods `pathname` answers, or null when no route has that path. */
export function methodNotAllowed(routes: readonly RouteEntry[], method: string, pathname: string): Problem | null {
  const allowed = [
    ...new Set(
      matchersOf(routes)
        .filter((m) => m.pattern.test(pathname))
        .map((m) => m.method),
    ),
  ].sort();
  if (allowed.length === 0 || allowed.includes(method)) return null;
  return problem(405, 'method_not_allowed', `${pathname} does not answer ${method}; it answers ${allowed.join(', ')}`, {
    headers: { allow: allowed.join(', ') },
  });
}
