/** Shared OpenAPI schemas: problem details, paging. */
import { z } from '@hono/zod-openapi';
import { problem, ProblemError } from '../lib/problem';
import type { IdPrefix } from '../lib/ids';

export const ProblemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    code: z.string().openapi({ example: 'invalid_signature' }),
    detail: z.string(),
    errors: z.array(z.object({ pointer: z.string(), detail: z.string() })).optional(),
    request_id: z.string().optional(),
  })
  .openapi('Problem');

export const problemResponses = (...statuses: number[]) =>
  Object.fromEntries(
    statuses.map((status) => [status, { description: 'Problem details (RFC 9457)', content: { 'application/problem+json': { schema: ProblemSchema } } }]),
  );

export const PageQuery = z.object({
  cursor: z.string().optional().openapi({ description: 'next_cursor of the previous page' }),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});

/** Ids as `newId` makes them: a prefix, `_`, then 26 Crockford base32 characters (time + randomness). */
export const idPattern = (prefix: IdPrefix) => new RegExp(`^${prefix}_[0-9A-HJKMNP-TV-Z]{26}$`);

/**
 * A path id. One that `newId` cannot have made names nothing, so the default hook (app.ts) answers it
 * like a missing resource: 404 with the `code` of the param's resource, before any query runs.
 */
export const idParam = (prefix: IdPrefix, name: string) =>
  z
    .string()
    .regex(idPattern(prefix), `a ${prefix}_ id`)
    .openapi({ param: { name, in: 'path' }, example: `${prefix}_01JD9Y3W8N5R2T6V4X7Z0A1B2C` });

export const TenantParam = z.object({ tenantId: idParam('tn', 'tenantId') });

/** The 404 code for a path param that fails its format (see `idParam`). */
export const NOT_FOUND_BY_PARAM: Record<string, string> = {
  tenantId: 'tenant_not_found',
  sourceId: 'source_not_found',
  subscriptionId: 'subscription_not_found',
  listenerId: 'listener_not_found',
  pluginId: 'plugin_not_found',
  eventId: 'event_not_found',
  deliveryId: 'delivery_not_found',
  replayId: 'replay_not_found',
  retryId: 'retry_not_found',
};

const EARLIEST = Date.UTC(1970, 0, 1);
const LATEST = Date.UTC(10_000, 0, 1);

/** An RFC 3339 time within 1970..9999, the range the API stores and compares (Postgres refuses year 0). */
export const Timestamp = z.iso.datetime({ offset: true }).refine((value) => {
  const ms = Date.parse(value);
  return ms >= EARLIEST && ms < LATEST;
}, 'a time between 1970-01-01 and 9999-12-31');

/**
 * Page cursors: opaque to clients, `c:<value>` in unpadded base64. A cursor that does not decode, or
 * whose value is not of the list's `shape`, is a 400 `invalid_cursor`, never silently the first page.
 */
export function encodeCursor(value: string | number): string {
  return btoa(`c:${value}`).replace(/=+$/, '');
}

export function decodeCursor(cursor: string | undefined, shape: RegExp = /^[\x21-\x7e]{1,512}$/): string | undefined {
  if (cursor === undefined || cursor === '') return undefined;
  // a `+` pasted into a URL unencoded arrives as a space
  const base64 = cursor.replaceAll(' ', '+');
  let text: string | undefined;
  try {
    text = /^[A-Za-z0-9+/]+$/.test(base64) ? atob(base64) : undefined;
  } catch {
    text = undefined;
  }
  const value = text?.startsWith('c:') ? text.slice(2) : undefined;
  if (value === undefined || !shape.test(value)) {
    throw new ProblemError(
      problem(400, 'invalid_cursor', 'the cursor is not one this API issued; use next_cursor of the previous page', {
        errors: [{ pointer: '/cursor', detail: 'unknown cursor' }],
      }),
    );
  }
  return value;
}

/** Cursor shapes of the lists: an id, a sequence (safe integer), an audit id (bigint). */
export const CURSOR = {
  id: (prefix: IdPrefix) => idPattern(prefix),
  sequence: /^\d{1,15}$/,
  /** A multi-shard tenant's events cursor: `received_at` in Unix ms, `:`, sequence. */
  position: /^\d{1,15}:\d{1,15}$/,
  bigint: /^\d{1,18}$/,
};

/** An OpenAPI JSON body or response: `{ content: { 'application/json': { schema } } }`. */
export const json = <T extends z.ZodType>(schema: T) => ({ content: { 'application/json': { schema } } });
