/**
 * Exit codes and the one error type commands throw. Everything a user can cause ends as a
 * `CliError` with one of the documented exit codes; anything else is a bug and prints its stack.
 */

/** The documented exit codes (README "CLI"). */
export const EXIT = {
  ok: 0,
  /** The API answered with a problem, a signature is invalid, or a command's work failed. */
  failure: 1,
  /** Unknown command or flag, missing or malformed argument. */
  usage: 2,
  /** No URL or token configured, or the token was refused (401/403) or expired. */
  auth: 3,
  /** The runtime (or the ingest URL) could not be reached. */
  network: 4,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An RFC 9457 problem as the API sends it. */
export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  code?: string;
  detail?: string;
  errors?: { pointer?: string; detail?: string; code?: string }[];
  request_id?: string;
}

export class CliError extends Error {
  readonly exitCode: ExitCode;
  readonly problem: Problem | undefined;
  /** The command already printed its JSON document (`verify --json` of an invalid signature). */
  readonly reported: boolean;
  constructor(message: string, exitCode: ExitCode, problem?: Problem, reported = false) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
    this.problem = problem;
    this.reported = reported;
  }
}

export const usageError = (message: string): CliError => new CliError(message, EXIT.usage);

/** `error: <title> (<code>): <detail>` plus one line per field error. */
export function formatProblem(problem: Problem, status?: number): string {
  const title = problem.title ?? `HTTP ${problem.status ?? status ?? '?'}`;
  const code = problem.code ? ` (${problem.code})` : '';
  const detail = problem.detail ? `: ${problem.detail}` : '';
  const lines = [`error: ${title}${code}${detail}`];
  for (const e of problem.errors ?? []) lines.push(`  ${e.pointer ?? ''}${e.pointer ? ': ' : ''}${e.detail ?? e.code ?? ''}`);
  return lines.join('\n');
}

/** The CliError for a non-2xx answer: its problem when it carries one, else the status line. */
export function problemError(status: number, body: unknown, statusText = ''): CliError {
  const problem: Problem =
    body && typeof body === 'object' && !Array.isArray(body) ? (body as Problem) : { title: `HTTP ${status}${statusText ? ` ${statusText}` : ''}`, status };
  const exitCode = status === 401 || status === 403 ? EXIT.auth : EXIT.failure;
  return new CliError(formatProblem(problem, status), exitCode, { ...problem, status: problem.status ?? status });
}

/** fetch's TypeError ("fetch failed") and aborts: the runtime is unreachable. */
export function networkError(url: string, error: unknown): CliError {
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause.message : error instanceof Error ? error.message : String(error);
  return new CliError(`error: cannot reach ${url}: ${cause}`, EXIT.network);
}
