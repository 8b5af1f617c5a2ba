/** Reads a JWT's claims without verifying it: only to show them and to find a tenant token's tenant. */

export interface TokenClaims {
  scope?: string;
  tenant?: string;
  scopes?: string[];
  exp?: number;
  iat?: number;
  [claim: string]: unknown;
}

export function decodeToken(token: string): TokenClaims | null {
  const payload = token.split('.')[1];
  if (!payload) return null;
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as unknown;
    return claims && typeof claims === 'object' && !Array.isArray(claims) ? (claims as TokenClaims) : null;
  } catch {
    return null;
  }
}

/** `admin`, `tenant` or `unknown`. */
export function tokenKind(claims: TokenClaims | null): string {
  return claims?.scope === 'admin' || claims?.scope === 'tenant' ? claims.scope : 'unknown';
}
