/** The shared error responses of the OpenAPI document: RFC 9457 problems, one example per common code. */
const PROBLEM = { $ref: '#/components/schemas/Problem' };
const BASE = 'https://switchyard.dev/problems/';

const example = (status: number, code: string, detail: string, extra: Record<string, unknown> = {}) => ({
  value: { type: `${BASE}${code}`, title: code.replace(/_/g, ' '), status, code, detail, request_id: '5f0c6e0e-3c7a-4b8e-9a51-0f6f3f7c2d11', ...extra },
});

const seconds = (description: string) => ({ description, schema: { type: 'integer', minimum: 0 } });

interface ErrorResponse {
  status: number;
  name: string;
  description: string;
  examples: Record<string, ReturnType<typeof example>>;
  headers?: Record<string, unknown>;
}

const ERRORS: ErrorResponse[] = [
  {
    status: 400,
    name: 'BadRequest',
    description: 'The request could not be read',
    examples: {
      malformed_json: example(400, 'malformed_json', 'Malformed JSON in request body'),
      invalid_cursor: example(400, 'invalid_cursor', 'the cursor is not one this API issued; use next_cursor of the previous page'),
    },
  },
  {
    status: 401,
    name: 'Unauthorized',
    description: 'No valid credentials: a missing, invalid or expired token, or (ingest) a signature that does not verify',
    headers: { 'WWW-Authenticate': { description: 'Bearer challenge (management routes)', schema: { type: 'string' } } },
    examples: {
      unauthorized: example(401, 'unauthorized', 'the token is invalid or expired'),
      invalid_signature: example(401, 'invalid_signature', 'no signature in webhook-signature matches'),
    },
  },
  {
    status: 403,
    name: 'Forbidden',
    description: 'The token is valid but may not do this',
    headers: { 'WWW-Authenticate': { description: 'Bearer error="insufficient_scope", scope="<the scope needed>"', schema: { type: 'string' } } },
    examples: {
      insufficient_scope: example(403, 'insufficient_scope', 'this route needs the subscriptions:write scope'),
      forbidden: example(403, 'forbidden', 'this route needs an admin token'),
    },
  },
  {
    status: 404,
    name: 'NotFound',
    description: "No such resource; also the answer for another tenant's resources",
    examples: {
      tenant_not_found: example(404, 'tenant_not_found', 'no tenant tn_01JD9Y3W8N5R2T6V4X7Z0A1B2C'),
      source_not_found: example(404, 'source_not_found', 'no source src_01JD9Y3W8N5R2T6V4X7Z0A1B2C'),
    },
  },
  {
    status: 409,
    name: 'Conflict',
    description: 'The resource is in a state that forbids this',
    examples: { plugin_in_use: example(409, 'plugin_in_use', 'the instance is used by src_01JD…; change those first') },
  },
  {
    status: 412,
    name: 'PreconditionFailed',
    description: 'If-Match does not name the current version',
    examples: { precondition_failed: example(412, 'precondition_failed', 'If-Match "sub_01JD….1" does not match the current version "sub_01JD….2"') },
  },
  {
    status: 413,
    name: 'PayloadTooLarge',
    description: 'The body exceeds 1 MiB',
    examples: { payload_too_large: example(413, 'payload_too_large', 'the body exceeds 1048576 bytes') },
  },
  {
    status: 415,
    name: 'UnsupportedMediaType',
    description: 'The content type is not one the endpoint reads',
    examples: {
      unsupported_media_type: example(415, 'unsupported_media_type', 'send application/cloudevents+json, application/cloudevents-batch+json or binary mode'),
    },
  },
  {
    status: 422,
    name: 'ValidationFailed',
    description: 'The request is well-formed but invalid; `errors` points at each problem',
    examples: {
      validation_failed: example(422, 'validation_failed', 'the request body is invalid', {
        errors: [{ pointer: '/name', detail: 'Invalid input: expected string, received undefined' }],
      }),
      unknown_field: example(422, 'validation_failed', 'the request body is invalid', {
        errors: [{ pointer: '/verifier/colour', detail: 'unknown field "colour"' }],
      }),
      forbidden_key: example(422, 'forbidden_key', 'the request body is invalid at /where/__proto__', {
        errors: [{ pointer: '/where/__proto__', detail: '"__proto__" is not allowed as a key: it names the JavaScript object prototype' }],
      }),
      invalid_text: example(422, 'invalid_text', 'the request body is invalid at /name', {
        errors: [{ pointer: '/name', detail: 'text may not contain NUL (\\u0000)' }],
      }),
    },
  },
  {
    status: 429,
    name: 'RateLimited',
    description: "Over the tenant's or the source's ingest rate limit (draft-ietf-httpapi-ratelimit-headers-10)",
    headers: {
      'Retry-After': seconds('seconds until the limit frees capacity'),
      RateLimit: { description: 'the policy closest to exhaustion: `"source";r=0;t=5`', schema: { type: 'string' } },
      'RateLimit-Policy': { description: 'the policies in force: `"tenant";q=1000;w=1, "source";q=100;w=1`', schema: { type: 'string' } },
    },
    examples: { rate_limited: example(429, 'rate_limited', 'the source limit of 100 requests per 1 s is used up; retry after 1 s') },
  },
  {
    status: 503,
    name: 'Unavailable',
    description: 'A dependency is unavailable; nothing was accepted, retry after the delay',
    headers: { 'Retry-After': seconds('seconds to wait before retrying') },
    examples: { storage_unavailable: example(503, 'storage_unavailable', 'the events could not be stored durably; nothing was accepted, retry later') },
  },
];

/** The shared response of an error status; one without its own entry gets a generic `Error<status>`. */
export function responseNameOf(status: number): string {
  return ERRORS.find((e) => e.status === status)?.name ?? `Error${status}`;
}

export function errorResponses(statuses: Iterable<number>): Record<string, unknown> {
  const known = new Set(ERRORS.map((e) => e.status));
  const generic = [...new Set(statuses)]
    .filter((s) => !known.has(s))
    .map(
      (status): ErrorResponse => ({
        status,
        name: `Error${status}`,
        description: 'Problem details (RFC 9457)',
        examples: { [`status_${status}`]: example(status, `http_${status}`, 'see code and detail') },
      }),
    );
  return Object.fromEntries(
    [...ERRORS, ...generic].map((e) => [
      e.name,
      {
        description: e.description,
        ...(e.headers ? { headers: e.headers } : {}),
        content: { 'application/problem+json': { schema: PROBLEM, examples: e.examples } },
      },
    ]),
  );
}
