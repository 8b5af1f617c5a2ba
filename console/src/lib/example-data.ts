/**
 * Data for a test event of a type: an example built from the type's registered JSON Schema, else the
 * data of the most recent stored event of that type (within the last week), else a greeting.
 */
import { api, ok } from './api';
import { can, type Session } from './session';

type Schema = {
  type?: string | string[];
  properties?: Record<string, Schema>;
  required?: string[];
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  examples?: unknown[];
  minimum?: number;
  items?: Schema;
  format?: string;
};

export function exampleFromSchema(schema: Schema, depth = 0): unknown {
  if (schema.const !== undefined) return schema.const;
  if (schema.examples?.length) return schema.examples[0];
  if (schema.default !== undefined) return schema.default;
  if (schema.enum?.length) return schema.enum[0];
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== 'null') : schema.type;
  if (type === 'object' || (!type && schema.properties)) {
    const out: Record<string, unknown> = {};
    if (depth > 5) return out;
    for (const [key, property] of Object.entries(schema.properties ?? {})) out[key] = exampleFromSchema(property, depth + 1);
    return out;
  }
  if (type === 'array') return schema.items && depth <= 5 ? [exampleFromSchema(schema.items, depth + 1)] : [];
  if (type === 'number' || type === 'integer') return schema.minimum ?? 1;
  if (type === 'boolean') return true;
  if (type === 'string') return schema.format === 'date-time' ? new Date().toISOString() : schema.format === 'email' ? 'someone@example.com' : 'example';
  return null;
}

export async function exampleData(session: Session, tenant: string, type: string): Promise<{ data: unknown; from: string }> {
  const path = { tenantId: tenant };
  if (can(session, 'event-types', 'read')) {
    const registered = await ok(api().GET('/v1/tenants/{tenantId}/event-types/{type}', { params: { path: { ...path, type } } })).catch(() => null);
    if (registered)
      return { data: exampleFromSchema(registered.schema as Schema), from: `an example built from the JSON Schema of ${type} v${registered.version}` };
  }
  if (can(session, 'events', 'read')) {
    const after = new Date(Date.now() - 7 * 86_400_000).toISOString();
    const page = await ok(api().GET('/v1/tenants/{tenantId}/events', { params: { path, query: { type, after, limit: 100 } } })).catch(() => null);
    const last = page?.data.at(-1);
    if (last) return { data: last.data ?? null, from: `the data of the last ${type} event (#${last.sequence})` };
  }
  return { data: { hello: 'from the Switchyard console' }, from: 'a placeholder: no schema or recent event of this type' };
}
