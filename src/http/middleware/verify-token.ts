/**
 * Verifies a management Bearer token. HS256 tokens are this deployment's own (`ADMIN_JWT_SECRET`):
 * admin tokens and the tenant tokens `POST /v1/tenants/{t}/tokens` mints. Any other algorithm is
 * accepted only when `AUTH_JWKS_URL` names an external identity provider: the token must verify
 * against that JWKS (fetched once per isolate and cached by jose, refetched on an unknown `kid`),
 * match `AUTH_JWKS_ISSUER` / `AUTH_JWKS_AUDIENCE` when set, and carry the `admin` scope (a `scope`
 * string with space-separated values, or a `scp` / `scope` array); such tokens are admin tokens.
 * Every token must carry `exp` (401 naming it otherwise); HS256 tokens may live at most 30 days.
 */
import { createRemoteJWKSet, decodeProtectedHeader, errors, jwtVerify, type JWTPayload } from 'jose';
import { configOf, type ConfigVars } from '../../config';
import { problem, ProblemError } from '../../lib/problem';
import { principalSchema, type Principal } from '../../tenancy/principal';

const ASYMMETRIC = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];

const secretKeys = new Map<string, Uint8Array>();
export function secretKey(secret: string): Uint8Array {
  let k = secretKeys.get(secret);
  if (!k) {
    k = new TextEncoder().encode(secret);
    secretKeys.set(secret, k);
  }
  return k;
}

const remoteSets = new Map<string, ReturnType<typeof createRemoteJWKSet>>();
function remoteSet(url: string): ReturnType<typeof createRemoteJWKSet> {
  let set = remoteSets.get(url);
  if (!set) {
    set = createRemoteJWKSet(new URL(url), { timeoutDuration: 3_000, cooldownDuration: 30_000, cacheMaxAge: 10 * 60_000 });
    remoteSets.set(url, set);
  }
  return set;
}

/** The longest a token of this deployment may live: what `POST /v1/tenants/{t}/tokens` mints at most, and `npm run dev`'s admin token. */
export const MAX_TOKEN_LIFETIME_SECONDS = 30 * 24 * 3600;
/** Clocks of the minting and the verifying machine may differ this much. */
export const CLOCK_SKEW_SECONDS = 60;

/** A 401 with a detail that says what to fix; anything else stays the generic "invalid or expired". */
function invalidToken(detail: string): ProblemError {
  return new ProblemError(problem(401, 'unauthorized', detail, { headers: { 'www-authenticate': 'Bearer error="invalid_token"' } }));
}

const NO_EXP = 'the token has no exp claim; every token must expire (mint one with an exp at most 30 days ahead)';

/** jose names a missing `exp` only in its message; say it plainly, since a never-expiring token is refused on purpose. */
function explainMissingExp(error: unknown): never {
  if (error instanceof errors.JWTClaimValidationFailed && error.claim === 'exp' && error.reason === 'missing') throw invalidToken(NO_EXP);
  throw error;
}

/**
 * Deployment tokens must expire, and within `MAX_TOKEN_LIFETIME_SECONDS`: measured from `iat` when
 * present and from now in any case, so neither a far `exp` nor a back-dated `iat` buys a longer life.
 */
function lifetimeProblem(payload: JWTPayload): string | null {
  if (typeof payload.exp !== 'number') return NO_EXP;
  const limit = MAX_TOKEN_LIFETIME_SECONDS + CLOCK_SKEW_SECONDS;
  const now = Math.floor(Date.now() / 1000);
  const issued = typeof payload.iat === 'number' ? payload.iat : now;
  if (payload.exp - issued > limit || payload.exp - now > limit) {
    return `the token lives longer than the ${MAX_TOKEN_LIFETIME_SECONDS / 86_400} days allowed (exp is too far ahead); mint a shorter-lived one`;
  }
  return null;
}

interface TokenEnv extends Pick<ConfigVars, 'AUTH_JWKS_URL' | 'AUTH_JWKS_ISSUER' | 'AUTH_JWKS_AUDIENCE'> {
  ADMIN_JWT_SECRET: string;
}

/** The principal of a valid token; throws on an invalid one, `ProblemError` 403 on a valid one without admin scope. */
export async function verifyToken(env: TokenEnv, token: string): Promise<Principal> {
  const { alg } = decodeProtectedHeader(token);
  if (alg === 'HS256') {
    const { payload } = await jwtVerify(token, secretKey(env.ADMIN_JWT_SECRET), { algorithms: ['HS256'], clockTolerance: CLOCK_SKEW_SECONDS }).catch(
      explainMissingExp,
    );
    const lifetime = lifetimeProblem(payload);
    if (lifetime) throw invalidToken(lifetime);
    return principalSchema.parse(payload);
  }
  const idp = configOf(env).authJwks;
  if (!idp) throw new Error(`unexpected token algorithm ${alg}`);
  const { payload } = await jwtVerify(token, remoteSet(idp.url), {
    algorithms: ASYMMETRIC,
    requiredClaims: ['exp'],
    clockTolerance: CLOCK_SKEW_SECONDS,
    ...(idp.issuer ? { issuer: idp.issuer } : {}),
    ...(idp.audience ? { audience: idp.audience } : {}),
  }).catch(explainMissingExp);
  if (!scopesOf(payload).includes('admin')) {
    throw new ProblemError(
      problem(403, 'insufficient_scope', 'the identity provider token does not carry the admin scope', {
        headers: { 'www-authenticate': 'Bearer error="insufficient_scope", scope="admin"' },
      }),
    );
  }
  return { scope: 'admin', ...(payload.sub ? { sub: `idp:${payload.sub}` } : {}) };
}

function scopesOf(payload: JWTPayload): string[] {
  const out: string[] = [];
  for (const claim of [payload.scope, payload.scp]) {
    if (typeof claim === 'string') out.push(...claim.split(' '));
    else if (Array.isArray(claim)) out.push(...claim.filter((s): s is string => typeof s === 'string'));
  }
  return out;
}
