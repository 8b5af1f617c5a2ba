/**
 * `/openapi.json` and `/docs`. The document is generated from the zod routes, then completed in one
 * place so every route tells the same story: error responses point at shared `components.responses`
 * (RFC 9457 problems with examples), and every tenant route's `security` names the scope it needs,
 * from the same `scopeNeed` the middleware enforces, with the 401/403/404 it can answer.
 */
import { z, type OpenAPIHono } from '@hono/zod-openapi';
import { scopeNeed } from '../tenancy/scopes';
import type { AppEnv } from './context';
import { errorResponses, responseNameOf } from './openapi-errors';

type Operation = { responses?: Record<string, unknown>; security?: Record<string, string[]>[]; description?: string };
type Document = { paths?: Record<string, Record<string, Operation>>; components?: Record<string, Record<string, unknown>> };

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
const TENANT_PATH = '/v1/tenants/{tenantId}';

/** The reference page is a static asset (`public/docs/`, wrangler.toml `[assets]`), served before the Worker runs. */
const DOCS_PAGE = '/docs/';

export function registerDocs(app: OpenAPIHono<AppEnv>): void {
  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description:
      'An admin token, or a tenant token from POST /v1/tenants/{tenantId}/tokens. The scopes listed per operation are the tenant-token scopes it needs (`admin`: admin tokens only).',
  });
  app.openAPIRegistry.registerPath({
    method: 'get',
    path: '/openapi.json',
    tags: ['docs'],
    summary: 'This OpenAPI 3.1 document',
    responses: { 200: { description: 'The document', content: { 'application/json': { schema: z.record(z.string(), z.unknown()) } } } },
  });
  app.openAPIRegistry.registerPath({
    method: 'get',
    path: '/docs',
    tags: ['docs'],
    summary: 'Interactive API reference (Swagger UI served with the runtime; works offline)',
    responses: {
      307: { description: 'Redirects to `/docs/`, a static page that renders this document', headers: { Location: { schema: { type: 'string' } } } },
    },
  });

  let document: Document | null = null;
  app.get('/openapi.json', (c) => c.json((document ??= buildDocument(app))));
  // reached only where the assets are not in front (app.request in tests); a deploy answers the same 307 from its assets
  app.get('/docs', (c) => c.redirect(DOCS_PAGE, 307));
}

function buildDocument(app: OpenAPIHono<AppEnv>): Document {
  const doc = app.getOpenAPI31Document({
    openapi: '3.1.0',
    info: {
      title: 'Switchyard',
      version: '0.1.0',
      description:
        'Plugin-based event runtime: signed, deduplicated, ordered, durable ingest of CloudEvents, delivered as signed webhooks.\n\n' +
        'Errors are RFC 9457 problem details (`application/problem+json`) with a stable `code`. Management routes take a Bearer JWT: ' +
        'an admin token, or a tenant token whose `scopes` (`<resource>:read|write`, `*`) are listed per operation; a token minted without ' +
        "scopes has full access to its tenant. A tenant token on another tenant's path gets 404.",
    },
    tags: [
      { name: 'ingest', description: 'Sending events (source credentials, not tokens)' },
      { name: 'tenants' },
      { name: 'sources' },
      { name: 'event-types' },
      { name: 'plugins' },
      { name: 'subscriptions' },
      { name: 'listeners', description: 'What switchyard listen registers and reports its local forwards to' },
      { name: 'events' },
      { name: 'deliveries' },
      { name: 'metrics' },
      { name: 'audit-log' },
      { name: 'health' },
      { name: 'docs' },
    ],
  }) as Document;
  const statuses = new Set<number>();
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    for (const method of METHODS) {
      const op = item[method];
      if (op) for (const status of complete(path, method, op)) statuses.add(status);
    }
  }
  doc.components = { ...doc.components, responses: { ...doc.components?.responses, ...errorResponses(statuses) } };
  return doc;
}

/** Completes one operation; returns the error statuses it now points at shared responses for. */
function complete(path: string, method: string, op: Operation): number[] {
  const responses = (op.responses ??= {});
  if (path === '/v1/ingest/{sourceId}') responses['429'] = {};
  if (path === TENANT_PATH || path.startsWith(`${TENANT_PATH}/`)) {
    const rest = path
      .slice(TENANT_PATH.length + 1)
      .split('/')
      .filter(Boolean);
    const need = scopeNeed(method.toUpperCase(), rest);
    const scopes = need.kind === 'scope' ? [need.scope] : need.kind === 'admin' ? ['admin'] : [];
    op.security = [{ bearer: scopes }];
    const rule =
      need.kind === 'scope'
        ? `Tenant tokens need the \`${need.scope}\` scope (or its resource's \`write\`, or \`*\`).`
        : need.kind === 'admin'
          ? 'Admin tokens only.'
          : 'Any token of the tenant.';
    op.description = op.description ? `${op.description}\n\n${rule}` : rule;
    responses['403'] = {};
    responses['404'] = {};
  } else if (path === '/v1/tenants') {
    op.security = [{ bearer: ['admin'] }];
    responses['403'] = {};
  }
  if (op.security) responses['401'] = {};
  const shared: number[] = [];
  for (const [status, response] of Object.entries(responses)) {
    if (Number(status) < 400 || !isProblem(response)) continue;
    responses[status] = { $ref: `#/components/responses/${responseNameOf(Number(status))}` };
    shared.push(Number(status));
  }
  return shared;
}

/** A response added above (`{}`) or declared with `problemResponses`; other error bodies (readyz) stay. */
function isProblem(response: unknown): boolean {
  const r = response as { content?: Record<string, unknown>; $ref?: string };
  return !r.$ref && (r.content === undefined || 'application/problem+json' in r.content);
}
