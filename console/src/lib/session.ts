/**
 * Sign-in: the token arrives in the URL fragment (`/console/#token=<jwt>`, printed by `npm run dev` or a
 * portal link), moves to session storage (this tab only) and leaves the address bar. Its payload is read
 * without verification, only to decide what to show; the API decides what is allowed.
 */
const KEY = 'switchyard.console.token';

export type Capability = 'read' | 'manage' | 'secrets';

export interface Session {
  token: string;
  /** `admin`, or a token limited to one tenant. */
  scope: 'admin' | 'tenant';
  tenant: string | null;
  /** Tenant-token scopes (`<resource>:read|write`, `*`); undefined means full access to the tenant. */
  scopes: string[] | undefined;
  /** Portal-link capabilities (the `portal` claim), shown to the person; the `scopes` enforce them. */
  capabilities: Capability[] | undefined;
  /** Expiry in ms since the epoch, when the token has one. */
  expiresAt: number | null;
}

export type SignIn =
  | { kind: 'signed-in'; session: Session }
  | { kind: 'expired'; session: Session }
  | { kind: 'rejected'; session: Session }
  | { kind: 'invalid' }
  | { kind: 'none' };

/** Takes a fragment token (removing it from the address bar), else the stored one. */
export function signIn(now = Date.now()): SignIn {
  const fragment = new URLSearchParams(location.hash.replace(/^#/, ''));
  const fresh = fragment.get('token');
  if (fresh !== null) {
    fragment.delete('token');
    const rest = fragment.toString();
    history.replaceState(history.state, '', `${location.pathname}${location.search}${rest ? `#${rest}` : ''}`);
    sessionStorage.setItem(KEY, fresh);
  }
  const token = fresh ?? sessionStorage.getItem(KEY);
  if (!token) return { kind: 'none' };
  const session = decodeSession(token);
  if (!session) return { kind: 'invalid' };
  return session.expiresAt !== null && session.expiresAt <= now ? { kind: 'expired', session } : { kind: 'signed-in', session };
}

export function signOut(): void {
  sessionStorage.removeItem(KEY);
}

export function decodeSession(token: string): Session | null {
  const payload = token.split('.')[1];
  if (!payload) return null;
  let claims: Record<string, unknown>;
  try {
    const json = atob(payload.replaceAll('-', '+').replaceAll('_', '/'));
    claims = JSON.parse(new TextDecoder().decode(Uint8Array.from(json, (c) => c.charCodeAt(0)))) as Record<string, unknown>;
  } catch {
    return null;
  }
  const scope = claims.scope === 'admin' ? 'admin' : claims.scope === 'tenant' && typeof claims.tenant === 'string' ? 'tenant' : null;
  if (!scope) return null;
  const strings = (value: unknown): string[] | undefined => (Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : undefined);
  const portal = claims.portal as { capabilities?: unknown } | undefined;
  const capabilities = strings(portal?.capabilities)?.filter((c): c is Capability => ['read', 'manage', 'secrets'].includes(c));
  return {
    token,
    scope,
    tenant: scope === 'tenant' ? (claims.tenant as string) : null,
    scopes: strings(claims.scopes),
    capabilities,
    expiresAt: typeof claims.exp === 'number' ? claims.exp * 1000 : null,
  };
}

/** Resources the management API scopes (src/tenancy/scopes.ts). */
export type Resource = 'sources' | 'event-types' | 'plugins' | 'subscriptions' | 'events' | 'deliveries' | 'metrics' | 'audit-log';

/**
 * Whether the session may read or write a resource, by the rules the API enforces
 * (src/tenancy/scopes.ts): the controls it may not use are not shown. Portal links carry the scopes
 * their capabilities grant, so the same check covers them.
 */
export function can(session: Session, resource: Resource, access: 'read' | 'write'): boolean {
  return holds(session, `${resource}:${access}`) || (access === 'read' && holds(session, `${resource}:write`));
}

/** Rotating (and so seeing) a signing secret needs its own scope (a portal link's `secrets`). */
export function canSecrets(session: Session): boolean {
  return holds(session, 'secrets:write');
}

function holds(session: Session, scope: string): boolean {
  if (session.scope === 'admin' || session.scopes === undefined) return true;
  return session.scopes.includes('*') || session.scopes.includes(scope);
}
