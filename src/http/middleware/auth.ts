/**
 * Bearer JWTs signed for this deployment (HS256, `ADMIN_JWT_SECRET`), or admin tokens of an external
 * identity provider when `AUTH_JWKS_URL` is set (see verify-token.ts). `scope: "admin"` may do
 * anything; `scope: "tenant"` tokens carry `tenant` and only ever see that tenant: on any other
 * tenant's path they get the same 404 as a tenant that does not exist.
 */
import { SignJWT } from 'jose';
import { createMiddleware } from 'hono/factory';
import { problem, ProblemError } from '../../lib/problem';
import type { Principal } from '../../tenancy/principal';
import type { AppEnv } from '../context';
import { secretKey, verifyToken } from './verify-token';

export async function mintToken(secret: string, payload: Principal, ttlSeconds: number): Promise<string> {
  return new SignJWT({ ...payload })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuedAt()
    .setIssuer('switchyard')
    .setExpirationTime(`${ttlSeconds}s`)
    .sign(secretKey(secret));
}

export const requireAuth = createMiddleware<AppEnv>(async function requireAuth(c, next) {
  const header = c.req.header('authorization') ?? '';
  const token = header.match(/^Bearer\s+(\S+)$/i)?.[1];
  if (!token)
    throw new ProblemError(problem(401, 'unauthorized', 'send a Bearer token in the Authorization header', { headers: { 'www-authenticate': 'Bearer' } }));
  try {
    c.set('principal', await verifyToken(c.env, token));
  } catch (error) {
    if (error instanceof ProblemError) throw error;
    throw new ProblemError(
      problem(401, 'unauthorized', 'the token is invalid or expired', { headers: { 'www-authenticate': 'Bearer error="invalid_token"' } }),
    );
  }
  await next();
});

export function requireAdmin(principal: Principal): void {
  if (principal.scope !== 'admin') throw new ProblemError(problem(403, 'forbidden', 'this route needs an admin token'));
}

/** Tenant tokens see only their own tenant; a foreign tenant looks exactly like a missing one. */
export function assertTenantAccess(principal: Principal, tenantId: string): void {
  if (principal.scope === 'tenant' && principal.tenant !== tenantId) {
    throw new ProblemError(problem(404, 'tenant_not_found', `no tenant ${tenantId}`));
  }
}
