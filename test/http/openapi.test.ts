import { Validator, type Schema } from '@cfworker/json-schema';
import { describe, expect, it } from 'vitest';
import { createApp } from '../../src/http/app';
import { call } from '../fixtures/api';

type Json = Record<string, unknown>;
type Operation = {
  responses?: Record<string, Json>;
  parameters?: { name: string; in: string; $ref?: string }[];
  security?: Record<string, string[]>[];
  operationId?: string;
  tags?: string[];
};
type Doc = {
  openapi: string;
  info: Json;
  paths: Record<string, Record<string, Operation>>;
  components: Record<string, Record<string, Json>>;
  tags?: { name: string }[];
};

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

async function document(): Promise<Doc> {
  const res = await call('/openapi.json');
  expect(res.status).toBe(200);
  return res.json<Doc>();
}

function operations(doc: Doc): [string, string, Operation][] {
  return Object.entries(doc.paths).flatMap(([path, item]) => METHODS.filter((m) => item[m]).map((m): [string, string, Operation] => [path, m, item[m]!]));
}

/** Every `$ref` anywhere in the document, with where it was found. */
function refs(value: unknown, at = '#'): [string, string][] {
  if (Array.isArray(value)) return value.flatMap((v, i) => refs(v, `${at}/${i}`));
  if (!value || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([k, v]) => (k === '$ref' && typeof v === 'string' ? [[at, v] as [string, string]] : refs(v, `${at}/${k}`)));
}

function resolve(doc: unknown, ref: string): unknown {
  if (!ref.startsWith('#/')) return undefined;
  return ref
    .slice(2)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce<unknown>((node, key) => (node && typeof node === 'object' ? (node as Json)[key] : undefined), doc);
}

describe('OpenAPI document', () => {
  it('is structurally valid OpenAPI 3.1: operations with responses, resolvable refs, declared path parameters, known security schemes and tags', async () => {
    const doc = await document();
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info).toMatchObject({ title: expect.any(String), version: expect.any(String) });
    const schemes = Object.keys(doc.components.securitySchemes ?? {});
    const tags = new Set((doc.tags ?? []).map((t) => t.name));
    const ids = new Set<string>();
    for (const [path, method, op] of operations(doc)) {
      const label = `${method.toUpperCase()} ${path}`;
      const responses = Object.entries(op.responses ?? {});
      expect(responses.length, label).toBeGreaterThan(0);
      expect(
        responses.some(([status]) => /^[23]\d\d$/.test(status)),
        `${label} has a success response`,
      ).toBe(true);
      for (const [status, response] of responses) {
        expect(status, label).toMatch(/^([1-5]\d\d|default)$/);
        const actual = (response.$ref ? resolve(doc, response.$ref as string) : response) as Json | undefined;
        expect(actual?.description, `${label} ${status} has a description`).toEqual(expect.any(String));
        if (Number(status) >= 400 && status !== '503')
          expect(String(response.$ref), `${label} ${status} uses a shared error response`).toMatch(/^#\/components\/responses\//);
      }
      const templated = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      const declared = (op.parameters ?? []).filter((p) => p.in === 'path').map((p) => p.name);
      expect(declared.sort(), `${label} declares its path parameters`).toEqual(templated.sort());
      for (const requirement of op.security ?? []) for (const scheme of Object.keys(requirement)) expect(schemes, label).toContain(scheme);
      for (const tag of op.tags ?? []) expect(tags, `${label} tag ${tag}`).toContain(tag);
      if (op.operationId) {
        expect(ids.has(op.operationId), `${label} operationId is unique`).toBe(false);
        ids.add(op.operationId);
      }
    }
    const all = refs(doc);
    expect(all.length).toBeGreaterThan(50);
    for (const [at, ref] of all) expect(resolve(doc, ref), `${ref} at ${at}`).toBeDefined();
  });

  it('has error components whose examples are valid problem documents', async () => {
    const doc = await document();
    const responses = doc.components.responses ?? {};
    expect(Object.keys(responses)).toEqual(expect.arrayContaining(['Unauthorized', 'Forbidden', 'NotFound', 'ValidationFailed', 'RateLimited', 'Unavailable']));
    const problem = new Validator({ ...(doc.components.schemas!.Problem as Schema), $defs: doc.components.schemas } as Schema, '2020-12');
    for (const [name, response] of Object.entries(responses)) {
      const content = (response.content as Record<string, { examples: Record<string, { value: unknown }> }>)['application/problem+json']!;
      expect(Object.keys(content.examples).length, name).toBeGreaterThan(0);
      for (const [exampleName, example] of Object.entries(content.examples)) {
        expect(problem.validate(example.value).errors, `${name}/${exampleName}`).toEqual([]);
      }
    }
    expect(responses.RateLimited!.headers as Json).toMatchObject({
      'Retry-After': expect.anything(),
      RateLimit: expect.anything(),
      'RateLimit-Policy': expect.anything(),
    });
  });

  it('documents every registered route, and only registered routes', async () => {
    const doc = await document();
    const documented = new Set(operations(doc).map(([path, method]) => `${method.toUpperCase()} ${path}`));
    const registered = new Set(
      createApp()
        .routes.filter((r) => r.method !== 'ALL')
        .map((r) => `${r.method} ${r.path.replace(/:(\w+)/g, '{$1}')}`),
    );
    expect(registered.size).toBeGreaterThan(30);
    expect([...registered].filter((r) => !documented.has(r))).toEqual([]);
    expect([...documented].filter((r) => !registered.has(r))).toEqual([]);
  });

  it('states the scope of every tenant route and the 429 of ingest', async () => {
    const doc = await document();
    for (const [path, method, op] of operations(doc)) {
      if (!path.startsWith('/v1/tenants/{tenantId}')) continue;
      expect(op.security, `${method} ${path}`).toHaveLength(1);
      expect(op.responses, `${method} ${path}`).toMatchObject({ '401': expect.anything(), '403': expect.anything(), '404': expect.anything() });
    }
    expect(doc.paths['/v1/tenants/{tenantId}/subscriptions']!.post!.security).toEqual([{ bearer: ['subscriptions:write'] }]);
    expect(doc.paths['/v1/tenants/{tenantId}/replays']!.get!.security).toEqual([{ bearer: ['deliveries:read'] }]);
    expect(doc.paths['/v1/ingest/{sourceId}']!.post!.responses!['429']).toEqual({ $ref: '#/components/responses/RateLimited' });
  });
});

describe('/docs', () => {
  // the page itself is a static asset, which the workerd tests do not serve: test/node/docs-page.test.ts renders it in Chromium
  it('redirects to the static reference page /docs/ when the Worker is asked for /docs', async () => {
    const res = await call('/docs', { redirect: 'manual' });
    expect(res.status).toBe(307);
    expect(res.headers.get('location')).toBe('/docs/');
  });
});
