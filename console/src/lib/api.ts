/**
 * The console talks to the public management API only, through the typed client generated from
 * /openapi.json (`@switchyard/client`). Errors become {@link ApiError} with the RFC 9457 problem; a 401
 * tells the app the session is over.
 */
import { createManagementClient, type ManagementClient, type Problem } from '@switchyard/client';

export type { components } from '@switchyard/client';

export const UNAUTHORIZED = 'switchyard:unauthorized';

export class ApiError extends Error {
  readonly status: number;
  readonly problem: Problem | null;
  constructor(status: number, problem: Problem | null) {
    super(problem?.detail ?? problem?.title ?? `The API answered ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

let client: ManagementClient | null = null;

export function connect(token: string): ManagementClient {
  client = createManagementClient({ baseUrl: window.location.origin, token });
  return client;
}

export function api(): ManagementClient {
  if (!client) throw new Error('not signed in');
  return client;
}

/** The data of a typed call, or an ApiError carrying the problem the API answered with. */
export async function ok<T>(call: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  const { data, error, response } = await call;
  if (response.ok) return data as T;
  if (response.status === 401) window.dispatchEvent(new Event(UNAUTHORIZED));
  const problem = error && typeof error === 'object' && 'detail' in error ? (error as Problem) : null;
  throw new ApiError(response.status, problem);
}
