/** Reading what was thrown, which TypeScript types as `unknown` (anything may be thrown). */

/** Its `message` when it has a text one (an `Error`, or an object shaped like one), else its text. */
export function errorMessage(error: unknown): string {
  const message = errorProperty(error, 'message');
  return typeof message === 'string' ? message : String(error);
}

/** One property of a thrown object (`code`, `cause`, `stack`, …); undefined for anything else. */
export function errorProperty(error: unknown, name: string): unknown {
  const value: unknown = typeof error === 'object' && error !== null ? Reflect.get(error, name) : undefined;
  return value;
}
