/**
 * Portal links: a short-lived sign-in link to the console for a platform's own customer, limited to
 * one tenant and to what the link's capabilities allow. The link carries a tenant token (minted as
 * `POST /v1/tenants/{t}/tokens` mints them) in the URL fragment, which browsers never send to a
 * server; the console moves it to session storage. The token's `scopes` enforce the capabilities
 * and its `portal` claim tells the console which controls to show.
 */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { recordAudit } from '../../db/audit';
import { actorOf } from '../../tenancy/principal';
import { PORTAL_CAPABILITIES, portalScopes, type PortalCapability } from '../../tenancy/scopes';
import { CONSOLE_PATH } from '../console';
import type { AppEnv } from '../context';
import { mintToken, requireAdmin } from '../middleware/auth';
import { json, problemResponses, TenantParam } from '../schemas';
import { loadTenant } from '../tenant-access';

const DEFAULT_TTL_SECONDS = 3600;
const DEFAULT_CAPABILITIES: PortalCapability[] = ['read', 'manage'];
/** Who acts through a portal link, as the audit log names it (`tenant:portal`). */
const PORTAL_SUBJECT = 'portal';

const Capabilities = z
  .array(z.enum(PORTAL_CAPABILITIES))
  .max(PORTAL_CAPABILITIES.length * 2)
  .openapi({
    description:
      '`read`: see everything of the tenant (always granted); `manage`: create and edit subscriptions and sources, retry deliveries, start replays; `secrets`: rotate (and so see) signing secrets. Default `["read", "manage"]`.',
    example: ['read', 'manage'],
  });

const PortalLink = z
  .object({
    url: z.string().openapi({
      description: 'opens the console signed in as this tenant; hand it to one person',
      example: 'https://switchyard.example.com/console/#token=eyJ…',
    }),
    expires_at: z.string().openapi({ description: 'the link (and the session it opens) ends then' }),
    capabilities: z.array(z.enum(PORTAL_CAPABILITIES)).openapi({ description: 'what the link grants, `read` included' }),
  })
  .openapi('PortalLink');

const createPortalLink = createRoute({
  method: 'post',
  path: '/v1/tenants/{tenantId}/portal-links',
  tags: ['tenants'],
  summary: 'Mint a tenant portal link: a short-lived console sign-in limited to one tenant (admin)',
  description:
    "The console it opens shows only this tenant and only the controls the capabilities allow; the link's token is refused on every other tenant's path (404) and on routes its capabilities do not cover (403). Frame it in your own app with the `PORTAL_FRAME_ANCESTORS` setting.",
  security: [{ bearer: [] }],
  request: {
    params: TenantParam,
    body: {
      required: false,
      ...json(
        z.strictObject({
          ttl_seconds: z.int().min(60).max(86_400).default(DEFAULT_TTL_SECONDS).openapi({ description: 'lifetime of the link, default 3600' }),
          capabilities: Capabilities.optional(),
        }),
      ),
    },
  },
  responses: { 201: { description: 'The link', ...json(PortalLink) }, ...problemResponses(401, 403, 404, 422) },
});

/** `read` first, then the others asked for, once each, in a stable order. */
function normalise(requested: readonly PortalCapability[]): PortalCapability[] {
  return PORTAL_CAPABILITIES.filter((capability) => capability === 'read' || requested.includes(capability));
}

export function registerPortalLinks(app: OpenAPIHono<AppEnv>): void {
  app.openapi(createPortalLink, async (c) => {
    const principal = c.get('principal');
    requireAdmin(principal);
    const { tenantId } = c.req.valid('param');
    const body = c.req.valid('json') ?? { ttl_seconds: DEFAULT_TTL_SECONDS };
    await loadTenant(c, tenantId);
    const ttl = body.ttl_seconds ?? DEFAULT_TTL_SECONDS;
    const capabilities = normalise(body.capabilities ?? DEFAULT_CAPABILITIES);
    const token = await mintToken(
      c.env.ADMIN_JWT_SECRET,
      { scope: 'tenant', tenant: tenantId, sub: PORTAL_SUBJECT, scopes: portalScopes(capabilities), portal: { capabilities } },
      ttl,
    );
    const expiresAt = new Date(Date.now() + ttl * 1000).toISOString();
    await recordAudit(c.var.db, { tenantId, actor: actorOf(principal), action: 'portal_link.minted', details: { capabilities, ttl_seconds: ttl } });
    return c.json({ url: `${new URL(c.req.url).origin}${CONSOLE_PATH}#token=${token}`, expires_at: expiresAt, capabilities }, 201);
  });
}
