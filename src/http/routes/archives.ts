/**
 * The tenant's event archive (README "Retention and archive"): archived days with their figures, a
 * day's manifest, and a part's gzip NDJSON file as stored in R2 (to check with `sha256sum` and read
 * with `gunzip -c | jq`). Archived events are events: tenant tokens need `events:read`.
 */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { buildManifest } from '../../archive/archive-format';
import { listArchiveDays, partsOfDay } from '../../db/archives';
import { problem, ProblemError } from '../../lib/problem';
import type { AppEnv } from '../context';
import { decodeCursor, encodeCursor, json, problemResponses, TenantParam } from '../schemas';
import { loadTenant } from '../tenant-access';

const DAY = /^\d{4}-\d{2}-\d{2}$/;
/** A calendar day `YYYY-MM-DD` that exists (2026-02-30 does not), from 1970 on. */
const Day = z
  .string()
  .regex(DAY, 'a day as YYYY-MM-DD')
  .refine((text) => {
    const ms = Date.parse(`${text}T00:00:00Z`);
    return ms >= 0 && new Date(ms).toISOString().startsWith(text);
  }, 'a day from 1970-01-01 on that exists');

const Range = z.object({ from: z.string(), to: z.string() });

const ArchiveDay = z
  .object({
    day: z.string().openapi({ example: '2026-10-30' }),
    parts: z.number().int(),
    count: z.number().int(),
    sequence: z.object({ from: z.number().int(), to: z.number().int() }),
    received_at: Range,
    bytes: z.number().int().openapi({ description: 'gzip bytes in R2' }),
    raw_bytes: z.number().int().openapi({ description: 'NDJSON bytes before compression' }),
  })
  .openapi('ArchiveDay');

const Part = z.object({
  part: z.number().int(),
  key: z.string(),
  count: z.number().int(),
  sequence: z.object({ from: z.number().int(), to: z.number().int() }),
  received_at: Range,
  sha256: z.string().openapi({ description: 'hex SHA-256 of the gzip object as stored' }),
  bytes: z.number().int(),
  raw_bytes: z.number().int(),
  created_at: z.string(),
});

const Manifest = z
  .object({
    format: z.string().openapi({ example: 'switchyard.archive.v1' }),
    tenant_id: z.string(),
    day: z.string(),
    count: z.number().int(),
    sequence: z.object({ from: z.number().int(), to: z.number().int() }),
    received_at: Range,
    bytes: z.number().int(),
    raw_bytes: z.number().int(),
    parts: z.array(Part),
  })
  .openapi('ArchiveManifest');

const DayParam = TenantParam.extend({ day: Day.openapi({ param: { name: 'day', in: 'path' }, example: '2026-10-30' }) });
const sec = [{ bearer: [] }];

const routes = {
  list: createRoute({
    method: 'get',
    path: '/v1/tenants/{tenantId}/archives',
    tags: ['events'],
    security: sec,
    summary: 'Archived days of the tenant’s events, newest first',
    request: {
      params: TenantParam,
      query: z.object({
        cursor: z.string().optional().openapi({ description: 'next_cursor of the previous page' }),
        limit: z.coerce.number().int().min(1).max(366).default(31),
        from: Day.optional().openapi({ description: 'days on or after' }),
        to: Day.optional().openapi({ description: 'days before' }),
      }),
    },
    responses: {
      200: { description: 'A page of archived days', ...json(z.object({ data: z.array(ArchiveDay), next_cursor: z.string().nullable() })) },
      ...problemResponses(400, 401, 403, 404, 422),
    },
  }),
  manifest: createRoute({
    method: 'get',
    path: '/v1/tenants/{tenantId}/archives/{day}',
    tags: ['events'],
    security: sec,
    summary: 'The manifest of an archived day (the same as manifest.json next to its parts in R2)',
    request: { params: DayParam },
    responses: { 200: { description: 'The manifest', ...json(Manifest) }, ...problemResponses(401, 403, 404, 422) },
  }),
  part: createRoute({
    method: 'get',
    path: '/v1/tenants/{tenantId}/archives/{day}/parts/{part}',
    tags: ['events'],
    security: sec,
    summary: 'Download one archived part: gzip NDJSON, one event per line as the events API renders it',
    request: {
      params: DayParam.extend({
        part: z.coerce
          .number()
          .int()
          .min(0)
          .max(99_999)
          .openapi({ param: { name: 'part', in: 'path' }, example: 0 }),
      }),
    },
    responses: {
      200: { description: 'The object as stored in R2', content: { 'application/gzip': { schema: z.string().openapi({ format: 'binary' }) } } },
      ...problemResponses(401, 403, 404, 422, 503),
    },
  }),
};

const notFound = (day: string) => new ProblemError(problem(404, 'archive_not_found', `no archive of ${day}`));

export function registerArchives(app: OpenAPIHono<AppEnv>): void {
  app.openapi(routes.list, async (c) => {
    const { tenantId } = c.req.valid('param');
    await loadTenant(c, tenantId);
    const { cursor, limit, from, to } = c.req.valid('query');
    const rows = await listArchiveDays(c.var.db, tenantId, { beforeDay: decodeCursor(cursor, DAY), from, to, limit: limit + 1 });
    const page = rows.slice(0, limit).map(({ seq_from, seq_to, received_from, received_to, ...day }) => ({
      ...day,
      sequence: { from: seq_from, to: seq_to },
      received_at: { from: received_from, to: received_to },
    }));
    return c.json({ data: page, next_cursor: rows.length > limit ? encodeCursor(page.at(-1)!.day) : null }, 200);
  });

  app.openapi(routes.manifest, async (c) => {
    const { tenantId, day } = c.req.valid('param');
    await loadTenant(c, tenantId);
    const parts = await partsOfDay(c.var.db, tenantId, day);
    if (parts.length === 0) throw notFound(day);
    return c.json(buildManifest(tenantId, day, parts), 200);
  });

  app.openapi(routes.part, async (c) => {
    const { tenantId, day, part } = c.req.valid('param');
    await loadTenant(c, tenantId);
    const found = (await partsOfDay(c.var.db, tenantId, day)).find((p) => p.part === part);
    if (!found) throw notFound(`${day} part ${part}`);
    const object = await c.env.ARCHIVE.get(found.key);
    if (!object) throw new ProblemError(problem(503, 'archive_unavailable', `the archive object ${found.key} is missing from the bucket`));
    return c.body(object.body, 200, {
      'content-type': 'application/gzip',
      'content-length': String(object.size),
      'content-disposition': `attachment; filename="${day}-${String(part).padStart(4, '0')}.ndjson.gz"`,
      etag: object.httpEtag,
    });
  });
}
