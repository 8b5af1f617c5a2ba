import type { components } from './schema.ts';

type Problem = components['schemas']['Problem'];

/**
 * A request the runtime refused, with its RFC 9457 problem (`status`, stable `code`, `detail`,
 * `errors[]` for field problems), or one that could not be completed: `status` 0 with code
 * `network_error` or `timeout` after the retries ran out, or `invalid_response` for a 2xx that is not JSON.
 */
export class SwitchyardError extends Error {
  readonly status: number;
  readonly code: string;
  readonly detail: string;
  readonly problem: Problem;
  /** How many requests were made (1 when a 4xx ended it at once). */
  readonly attempts: number;

  constructor(problem: Problem, attempts: number, options?: { cause?: unknown }) {
    super(`${problem.status ? `${problem.status} ` : ''}${problem.code}: ${problem.detail}`, options);
    this.name = 'SwitchyardError';
    this.status = problem.status;
    this.code = problem.code;
    this.detail = problem.detail;
    this.problem = problem;
    this.attempts = attempts;
  }
}

/** The problem of an error response; a body that is not one (a proxy's HTML page) gets the code `http_<status>`. */
export function problemOf(status: number, text: string): Problem {
  try {
    const json = JSON.parse(text) as Partial<Problem> | null;
    if (json && typeof json.code === 'string') {
      return { type: 'about:blank', title: '', detail: '', ...json, status: typeof json.status === 'number' ? json.status : status, code: json.code };
    }
  } catch {
    // not JSON: described below
  }
  return { type: 'about:blank', title: `HTTP ${status}`, status, code: `http_${status}`, detail: text.slice(0, 500) || `HTTP ${status}` };
}

export function failure(code: 'network_error' | 'timeout' | 'invalid_response', detail: string): Problem {
  return { type: 'about:blank', title: code, status: 0, code, detail };
}
