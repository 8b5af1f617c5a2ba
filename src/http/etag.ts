import { problem, ProblemError } from '../lib/problem';

/** Strong ETag of a versioned resource: `"<id>.<version>"`. */
export const etag = (id: string, version: number) => `"${id}.${version}"`;

/**
 * The version an `If-Match` header pins (undefined when there is none); 412 when it names another
 * resource or version than the current one.
 */
export function ifMatchVersion(header: string | undefined, current: { id: string; version: number }): number | undefined {
  if (!header) return undefined;
  if (header.trim() === '*') return current.version;
  if (header.trim() !== etag(current.id, current.version)) {
    throw new ProblemError(problem(412, 'precondition_failed', `If-Match ${header} does not match the current version ${etag(current.id, current.version)}`));
  }
  return current.version;
}

export const changedMeanwhile = () => new ProblemError(problem(412, 'precondition_failed', 'the resource changed meanwhile; read it again'));
