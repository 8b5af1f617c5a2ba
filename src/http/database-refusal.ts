/**
 * Postgres errors that mean "this value from the request cannot be stored or compared", as a 422
 * problem instead of a 500. The boundary checks (input guard, zod) should catch these first; this is
 * the net under them, so a value they miss is still the client's mistake, not an outage.
 * SQLSTATE class 22 is data exceptions (22P02 bad text representation, 22021 bad byte sequence,
 * 22007/22008 bad or out-of-range dates, 22003 numbers out of range); 54xxx is program limits
 * (54001 stack depth, for a value nested too deep). A deadlock or serialization failure (40P01,
 * 40001) is a 503 to retry: the transaction was rolled back, nothing changed.
 */
import { problem, type Problem } from '../lib/problem';
import { errorProperty } from '../lib/errors';

function sqlState(error: unknown): string | undefined {
  for (let e = error, hops = 0; e && typeof e === 'object' && hops < 4; e = errorProperty(e, 'cause'), hops++) {
    const code = errorProperty(e, 'code');
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code;
  }
  return undefined;
}

/** A deadlock or serialization failure: the transaction was rolled back and may run again as it was. */
export function isConcurrencyRollback(error: unknown): boolean {
  const state = sqlState(error);
  return state === '40P01' || state === '40001';
}

export function databaseRefusal(error: unknown): Problem | null {
  const state = sqlState(error);
  if (!state) return null;
  if (state.startsWith('22')) {
    return problem(422, 'invalid_value', `a value in the request cannot be stored or compared (SQLSTATE ${state}); check the text, numbers and dates you sent`);
  }
  if (state.startsWith('54')) {
    return problem(422, 'value_too_complex', `a value in the request is too large or too deeply nested to store (SQLSTATE ${state})`);
  }
  // a deadlock or serialization failure: Postgres rolled this request back to let a concurrent one go
  // on; nothing was changed, and the same request may simply be sent again
  if (state === '40P01' || state === '40001') {
    return problem(
      503,
      'concurrent_change',
      `the request collided with a concurrent change and was rolled back (SQLSTATE ${state}); nothing was changed, retry`,
      {
        headers: { 'retry-after': '1' },
      },
    );
  }
  return null;
}
