/**
 * RFC 9457 problem details. `code` is stable API: clients branch on it; `detail` is for humans.
 */
export interface FieldError {
  /** JSON pointer into the request (or into the batch item). */
  pointer: string;
  detail: string;
}

export interface Problem {
  status: number;
  code: string;
  title: string;
  detail: string;
  errors?: FieldError[];
  headers?: Record<string, string>;
  /** RFC 9457 extension members, rendered at the top level of the body (e.g. `current_sequence`). */
  extensions?: Record<string, string | number | boolean | null>;
}

export function problem(status: number, code: string, detail: string, extra: Partial<Problem> = {}): Problem {
  return { status, code, title: code.replace(/_/g, ' '), detail, ...extra };
}

/** Thrown by edge code to end a request with a problem response; `app.onError` renders it. */
export class ProblemError extends Error {
  constructor(readonly problem: Problem) {
    super(problem.detail);
    this.name = 'ProblemError';
  }
}

type Issue = { path: readonly PropertyKey[]; message: string; code?: string; keys?: readonly string[] };

/** Field errors one problem lists; a body with 50,000 unknown keys must not earn a 3 MB answer. */
export const MAX_FIELD_ERRORS = 50;

/**
 * zod issues as field errors, with JSON pointers (RFC 6901 escaped) under `prefix`. An unknown field
 * (`unrecognized_keys`) becomes one error per field, pointing at the field itself. At most
 * MAX_FIELD_ERRORS are listed; a last entry (pointer `prefix`) says how many more there were.
 */
export function issuesToErrors(issues: readonly Issue[], prefix = ''): FieldError[] {
  const pointer = (path: readonly PropertyKey[]) =>
    `${prefix}/${path.map((p) => String(p).replace(/~/g, '~0').replace(/\//g, '~1')).join('/')}`.replace(/(.)\/$/, '$1');
  const errors: FieldError[] = [];
  let total = 0;
  for (const issue of issues) {
    const keys = issue.code === 'unrecognized_keys' && issue.keys?.length ? issue.keys : null;
    for (const key of keys ?? [null]) {
      if (total++ >= MAX_FIELD_ERRORS) continue;
      errors.push(
        key === null ? { pointer: pointer(issue.path), detail: issue.message } : { pointer: pointer([...issue.path, key]), detail: `unknown field "${key}"` },
      );
    }
  }
  if (total > MAX_FIELD_ERRORS) errors.push({ pointer: prefix, detail: `and ${total - MAX_FIELD_ERRORS} more problems of the same request` });
  return errors;
}
