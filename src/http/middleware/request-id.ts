import { requestId as honoRequestId } from 'hono/request-id';
import type { Context } from 'hono';

/** The ids a client may bring: short and plain enough to echo in headers and JSON log lines. */
const CLIENT_ID = /^[\w.-]{1,64}$/;
/** hono/request-id's own rule with `limitLength: 64`. */
const HONO_ID = /^[\w=-]{1,64}$/;

/**
 * `x-request-id`: the client's id when it is 1-64 of `[A-Za-z0-9_.=-]`, else a new UUID; set on the
 * response and as `c.get('requestId')`. hono/request-id takes `[\w=-]` up to `limitLength` and calls
 * the generator for anything else, which is where an id with a dot (our own rule) gets its second chance.
 */
export const requestId = honoRequestId({
  headerName: 'x-request-id',
  limitLength: 64,
  generator: function clientIdOrUuid(c: Context) {
    return requestIdOf(c.req.header('x-request-id') ?? null);
  },
});

/** What the middleware comes to, for a path that skips it (app.ts): the client's id when either rule takes it, else a new UUID. */
export function requestIdOf(incoming: string | null): string {
  return incoming !== null && (HONO_ID.test(incoming) || CLIENT_ID.test(incoming)) ? incoming : crypto.randomUUID();
}
