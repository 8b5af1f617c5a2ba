/**
 * The guard against 500s: every operation in /openapi.json, with hostile values in each path param,
 * each query param and each body field. No answer may be a 500, and every error must be a problem
 * document with a `code`. New routes are covered by being documented.
 */
import { describe, expect, it } from 'vitest';
import { adminToken, call, createSource } from '../fixtures/api';

type Json = Record<string, unknown>;
type Schema = Json & {
  $ref?: string;
  type?: string | string[];
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  anyOf?: Schema[];
  oneOf?: Schema[];
  allOf?: Schema[];
  enum?: unknown[];
  minimum?: number;
  minItems?: number;
  format?: string;
  example?: unknown;
  default?: unknown;
};
type Parameter = { name: string; in: string; schema?: Schema };
type Operation = { parameters?: Parameter[]; requestBody?: { content?: Record<string, { schema?: Schema }> } };
type Doc = { paths: Record<string, Record<string, Operation>>; components: { schemas?: Record<string, Schema> } };

const METHODS = ['get', 'put', 'post', 'delete', 'patch'];
const LONG = 'x'.repeat(10_000);
const GARBAGE_CURSOR = 'Zm9vOmJhcg';
/** Hostile text for URLs, already percent-encoded where it has to be. */
const URL_VALUES = ['%00', LONG, '0000-01-01T00:00:00Z', '99999-01-01', GARBAGE_CURSOR, '%ED%A0%80', '%F0', '-1', '1e309', '..%2F..'];
/** Hostile JSON values for a body field. */
const FIELD_VALUES: unknown[] = ['a\u0000b', '\ud800', LONG, '0000-01-01T00:00:00Z', -1, 1e308, true, null, [1, 'x'], {}, { unknown_field: 1 }];
/** Hostile whole bodies, as raw text. */
const RAW_BODIES = [
  '[]',
  '"text"',
  '12',
  'null',
  '{}',
  '{"__proto__":{"x":1}}',
  '{"constructor":{"prototype":{}}}',
  '{"a":"\\u0000"}',
  '{"a":"\\ud800"}',
  '{"x":',
  '\u0000',
  `${'['.repeat(5000)}${']'.repeat(5000)}`,
];

function resolve(doc: Doc, schema: Schema | undefined): Schema {
  let s = schema ?? {};
  for (let i = 0; s.$ref && i < 10; i++) s = doc.components.schemas?.[s.$ref.split('/').pop()!] ?? {};
  return s;
}

/** A plausible value for a schema, so hostile values in one field meet otherwise sensible bodies. */
function sample(doc: Doc, schema: Schema | undefined, depth = 0): unknown {
  const s = resolve(doc, schema);
  if (depth > 6) return null;
  if (s.example !== undefined) return s.example;
  if (s.default !== undefined) return s.default;
  if (s.enum) return s.enum[0];
  const options = s.anyOf ?? s.oneOf ?? s.allOf;
  if (options?.length) return sample(doc, options.find((o) => resolve(doc, o).type !== 'null') ?? options[0], depth + 1);
  const type = Array.isArray(s.type) ? s.type.find((t) => t !== 'null') : s.type;
  switch (type) {
    case 'string':
      return s.format === 'date-time' ? new Date().toISOString() : 'sample';
    case 'integer':
    case 'number':
      return s.minimum ?? 1;
    case 'boolean':
      return true;
    case 'array':
      return Array.from({ length: Math.max(1, s.minItems ?? 1) }, () => sample(doc, s.items, depth + 1));
    case 'object': {
      const out: Json = {};
      for (const key of s.required ?? []) out[key] = sample(doc, s.properties?.[key], depth + 1);
      return out;
    }
    default:
      return null;
  }
}

/** Pointers (as key paths) of the fields to replace: every property, nested objects' included. */
function fieldPaths(doc: Doc, schema: Schema | undefined, prefix: string[] = [], depth = 0): string[][] {
  const s = resolve(doc, schema);
  const options = [s, ...(s.anyOf ?? []), ...(s.oneOf ?? [])].map((o) => resolve(doc, o));
  const paths: string[][] = [];
  for (const option of options) {
    for (const [key, inner] of Object.entries(option.properties ?? {})) {
      paths.push([...prefix, key]);
      if (depth < 2) paths.push(...fieldPaths(doc, inner, [...prefix, key], depth + 1));
    }
  }
  return paths;
}

function withField(base: unknown, path: string[], value: unknown): unknown {
  const root: Json = base && typeof base === 'object' && !Array.isArray(base) ? structuredClone(base as Json) : {};
  let node = root;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    node = node[key] = next && typeof next === 'object' && !Array.isArray(next) ? (next as Json) : {};
  }
  node[path.at(-1)!] = value;
  return root;
}

interface Probe {
  label: string;
  method: string;
  url: string;
  body?: string;
}

async function run(probe: Probe, token: string): Promise<string | null> {
  const res = await call(probe.url, {
    method: probe.method.toUpperCase(),
    headers: { authorization: `Bearer ${token}`, ...(probe.body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: probe.body,
  });
  const text = await res.text();
  if (res.status >= 500 && res.status !== 501 && res.status !== 503) return `${probe.label}: ${res.status} ${text.slice(0, 300)}`;
  if (res.status >= 400 && probe.url.startsWith('/v1/')) {
    const type = res.headers.get('content-type') ?? '';
    if (!type.startsWith('application/problem+json')) return `${probe.label}: ${res.status} with content-type ${type}`;
    const code = (JSON.parse(text) as { code?: unknown }).code;
    if (typeof code !== 'string' || !/^[a-z0-9_]+$/.test(code)) return `${probe.label}: ${res.status} without a snake_case code`;
  }
  return null;
}

describe('every documented operation with hostile input', () => {
  it('never answers 500, and answers every error with a problem and a code', async () => {
    const token = await adminToken();
    const { tenantId, sourceId } = await createSource();
    const json = async (method: string, path: string, body: unknown) =>
      (await call(path, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })).json<{
        id: string;
      }>();
    const subscription = await json('POST', `/v1/tenants/${tenantId}/subscriptions`, {
      types: ['**'],
      action: { type: 'webhook', config: { url: 'https://example.com/hook' } },
    });
    const plugin = await json('POST', `/v1/tenants/${tenantId}/plugins`, { type: 'redact', name: 'walker', config: { pointers: ['/data/card'] } });
    await json('PUT', `/v1/tenants/${tenantId}/event-types/orders.created`, { schema: { type: 'object' } });
    const valid: Record<string, string> = {
      tenantId,
      sourceId,
      subscriptionId: subscription.id,
      pluginId: plugin.id,
      type: 'orders.created',
      eventId: `evt_${'0'.repeat(26)}`,
      deliveryId: `dlv_${'0'.repeat(26)}`,
      replayId: `rpl_${'0'.repeat(26)}`,
    };
    expect(subscription.id).toMatch(/^sub_/);
    expect(plugin.id).toMatch(/^plg_/);

    const doc = await (await call('/openapi.json')).json<Doc>();
    const probes: Probe[] = [];
    const deletes: Probe[] = [];
    let operations = 0;
    for (const [template, item] of Object.entries(doc.paths)) {
      for (const method of METHODS) {
        const op = item[method];
        if (!op) continue;
        operations++;
        const params = op.parameters ?? [];
        const pathParams = params.filter((p) => p.in === 'path');
        const queryParams = params.filter((p) => p.in === 'query');
        const fill = (overrides: Record<string, string> = {}) =>
          template.replace(/\{(\w+)\}/g, (_, name: string) => overrides[name] ?? encodeURIComponent(valid[name] ?? 'unknown'));
        const label = `${method.toUpperCase()} ${template}`;
        // deleting the tenant or its resources would leave later probes nothing to reach
        const out = method === 'delete' ? deletes : probes;
        for (const p of pathParams)
          for (const value of [...URL_VALUES, `${p.name.slice(0, 3)}_${'Z'.repeat(26)}`])
            out.push({ label: `${label} ${p.name}=${value.slice(0, 20)}`, method, url: fill({ [p.name]: value }) });
        if (method === 'delete') continue;
        for (const q of queryParams) {
          for (const value of URL_VALUES) probes.push({ label: `${label} ?${q.name}=${value.slice(0, 20)}`, method, url: `${fill()}?${q.name}=${value}` });
          probes.push({ label: `${label} ?${q.name}[]`, method, url: `${fill()}?${q.name}=a&${q.name}=b` });
        }
        probes.push({ label: `${label} ?unknown%00=1`, method, url: `${fill()}?unknown%00=1&cursor=${GARBAGE_CURSOR}` });
        if (method === 'get') continue;
        const schema = op.requestBody?.content?.['application/json']?.schema;
        const base = schema ? sample(doc, schema) : {};
        probes.push({ label: `${label} body=sample`, method, url: fill(), body: JSON.stringify(base) });
        probes.push({ label: `${label} body+unknown`, method, url: fill(), body: JSON.stringify({ ...(base as Json), unknown_field: 1 }) });
        for (const raw of RAW_BODIES) probes.push({ label: `${label} body=${raw.slice(0, 20)}`, method, url: fill(), body: raw });
        if (!schema) continue;
        for (const path of fieldPaths(doc, schema)) {
          for (const value of FIELD_VALUES)
            probes.push({
              label: `${label} /${path.join('/')}=${JSON.stringify(value).slice(0, 20)}`,
              method,
              url: fill(),
              body: JSON.stringify(withField(base, path, value)),
            });
          probes.push({
            label: `${label} /${path.join('/')}/__proto__`,
            method,
            url: fill(),
            body: JSON.stringify(withField(base, path, {})).replace(/\{\}/, '{"__proto__":{"polluted":true}}'),
          });
        }
      }
    }

    const failures: string[] = [];
    const pool = async (list: Probe[]) => {
      let next = 0;
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          while (next < list.length) {
            const probe = list[next++]!;
            const failure = await run(probe, token);
            if (failure) failures.push(failure);
          }
        }),
      );
    };
    await pool(probes);
    await pool(deletes);
    console.log(`hostile walk: ${operations} operations, ${probes.length + deletes.length} requests`);
    expect(operations).toBeGreaterThan(40);
    expect(failures).toEqual([]);
  }, 120_000);
});
