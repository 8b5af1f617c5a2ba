/**
 * What a tenant token may do. A scope is `<resource>:read` or `<resource>:write`, or `*` for all of
 * them; `write` includes `read` of the same resource. A tenant token minted without `scopes` has full
 * access to its tenant (as if it held `*`); one minted with `scopes: []` may only read the tenant
 * itself. Admin-only operations (minting tokens and portal links, changing a tenant) are never granted
 * by scopes. Rotating a signing secret (which shows the new one) needs {@link SECRETS_SCOPE}, not the
 * source's or subscription's `write`: a portal link may manage endpoints without handling their secrets.
 */
import type { Principal } from './principal';

export const SCOPED_RESOURCES = ['sources', 'event-types', 'plugins', 'subscriptions', 'events', 'deliveries', 'metrics', 'audit-log'] as const;
export type ScopedResource = (typeof SCOPED_RESOURCES)[number];

/** Resources that have no writes through the management API get only a `read` scope. */
const READ_ONLY = new Set<ScopedResource>(['events', 'metrics', 'audit-log']);

/** Rotating a source's or subscription's signing secret; held by `*` tokens, tokens without scopes and admins. */
export const SECRETS_SCOPE = 'secrets:write';

export const TENANT_SCOPES = ['*', ...SCOPED_RESOURCES.flatMap((r) => (READ_ONLY.has(r) ? [`${r}:read`] : [`${r}:read`, `${r}:write`])), SECRETS_SCOPE] as [
  string,
  ...string[],
];

/** A route's need: a tenant scope, an admin token, or just access to the tenant. */
export type ScopeNeed = { kind: 'scope'; scope: string } | { kind: 'admin' } | { kind: 'tenant' };

/** Path segments under `/v1/tenants/{t}/` that belong to another resource's scope. */
const ALIASES: Record<string, ScopedResource> = { replays: 'deliveries', quarantine: 'events', listeners: 'subscriptions', archives: 'events' };
const ADMIN_ONLY = new Set(['tokens', 'portal-links']);
/** Settings of the tenant itself: any token of the tenant reads them, only an admin changes them. */
const TENANT_SETTINGS = new Set(['retention']);

/**
 * The need of `method` on a path under `/v1/tenants/{t}` given as the segments after the tenant id.
 * A new resource segment is covered without being listed: it needs `<segment>:read|write`, which no
 * token holds until the segment joins {@link SCOPED_RESOURCES} (so it fails closed for scoped tokens).
 */
export function scopeNeed(method: string, rest: readonly string[]): ScopeNeed {
  const read = method === 'GET' || method === 'HEAD';
  const segment = rest[0];
  if (segment === undefined || segment === '') return read ? { kind: 'tenant' } : { kind: 'admin' };
  if (ADMIN_ONLY.has(segment)) return { kind: 'admin' };
  if (TENANT_SETTINGS.has(segment)) return read ? { kind: 'tenant' } : { kind: 'admin' };
  if (!read && rest.at(-1) === 'rotate-secret') return { kind: 'scope', scope: SECRETS_SCOPE };
  const resource = ALIASES[segment] ?? segment;
  return { kind: 'scope', scope: `${resource}:${read ? 'read' : 'write'}` };
}

/** Whether a tenant principal holds `scope` (admins hold every scope). */
export function grants(principal: Principal, scope: string): boolean {
  if (principal.scope === 'admin') return true;
  const held = principal.scopes;
  if (held === undefined) return true;
  const [resource, access] = scope.split(':');
  return held.includes('*') || held.includes(scope) || (access === 'read' && held.includes(`${resource}:write`));
}

/** What a portal link grants (`read` always); the console shows only the controls these allow. */
export const PORTAL_CAPABILITIES = ['read', 'manage', 'secrets'] as const;
export type PortalCapability = (typeof PORTAL_CAPABILITIES)[number];

/** `manage`: edit subscriptions and sources, retry deliveries and start replays (an alias of deliveries). */
const MANAGE_SCOPES = ['subscriptions:write', 'sources:write', 'deliveries:write'];

/**
 * The tenant scopes of a portal link: every `*:read` scope, plus {@link MANAGE_SCOPES} for `manage`
 * and {@link SECRETS_SCOPE} for `secrets`. Never `*`, so a resource added later stays out of a link
 * until it is listed here or among the read scopes.
 */
export function portalScopes(capabilities: readonly PortalCapability[]): string[] {
  return [
    ...TENANT_SCOPES.filter((scope) => scope.endsWith(':read')),
    ...(capabilities.includes('manage') ? MANAGE_SCOPES : []),
    ...(capabilities.includes('secrets') ? [SECRETS_SCOPE] : []),
  ];
}
