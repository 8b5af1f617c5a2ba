/** Shared OpenAPI schemas: problem details, paging. */
import { z } from '@hono/zod-openapi';

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

export const TenantParam = z.object({ tenantId: z.string().openapi({ param: { name: 'tenantId', in: 'path' }, example: 'tn_01JD…' }) });

export function encodeCursor(value: string | number): string {
  return btoa(`c:${value}`).replace(/=+$/, '');
}

export function decodeCursor(cursor: string | undefined): string | undefined {
  if (!cursor) return undefined;
  try {
    const text = atob(cursor);
    return text.startsWith('c:') ? text.slice(2) : undefined;
  } catch {
    return undefined;
  }
}

/** An OpenAPI JSON body or response: `{ content: { 'application/json': { schema } } }`. */
export const json = <T extends z.ZodType>(schema: T) => ({ content: { 'application/json': { schema } } });
