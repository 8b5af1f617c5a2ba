import { requestId as honoRequestId } from 'hono/request-id';
import type { Context } from 'hono';

/** The ids a client may bring: short and plain enough to echo in headers and JSON log lines. */
const CLIENT_ID = /^[\w.-]{1,64}$/;

/**
 * `x-request-id`: the client's id when it is 1-64 of `[A-Za-z0-9_.=-]`, else a new UUID; set on the
 * response and as `c.get('requestId')`. hono/request-id takes `[\w=-]` up to `limitLength` and calls
 * the generator for anything else, which is where an id with a dot (our own rule) gets its second chance.
 */
export const requestId = honoRequestId({
  headerName: 'x-request-id',
  limitLength: 64,
  generator: function clientIdOrUuid(c: Context) {
    const incoming = c.req.header('x-request-id');
    return incoming !== undefined && CLIENT_ID.test(incoming) ? incoming : crypto.randomUUID();
  },
});
