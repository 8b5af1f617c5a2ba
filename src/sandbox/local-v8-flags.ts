/**
 * V8 flags for the local workerd (`npm run dev`, the tests), passed through Miniflare's
 * `MINIFLARE_WORKERD_V8_FLAGS`. Tenant scripts run in isolates of the same single-threaded process,
 * and workerd has no CPU limit locally, so a regular expression that backtracks catastrophically
 * (`/(a+)+$/` against `'a'.repeat(40) + 'b'`) would freeze every tenant. With this flag V8 reruns
 * such an expression, after 50,000 backtracks, on its linear-time engine; that engine takes patterns
 * without backreferences, lookaround or the `v` flag's set operations, so those can still backtrack.
 * Production does not depend on this: `limits.cpuMs` stops the isolate there.
 */
export const LOCAL_V8_FLAGS = ['--enable-experimental-regexp-engine-on-excessive-backtracks'];

/** `current` (space-separated, as Miniflare reads it) with the local flags added once. */
export function withLocalV8Flags(current: string | undefined): string {
  const flags = (current ?? '').split(' ').filter(Boolean);
  for (const flag of LOCAL_V8_FLAGS) if (!flags.includes(flag)) flags.push(flag);
  return flags.join(' ');
}
