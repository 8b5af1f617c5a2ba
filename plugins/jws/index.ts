/**
 * Detached compact JWS over the raw body (RFC 7515 appendix F): the sender puts
 * `<protected>..<signature>` in a header (default `jws-signature`). Keys come from a JWK in the config
 * or from a JWKS URL (cached, refreshed on an unknown `kid`). Unencoded payloads (RFC 7797, `b64: false`)
 * are accepted. An `iat` in the protected header is held to the same 5-minute tolerance as
 * Standard Webhooks.
 */
import { createLocalJWKSet, createRemoteJWKSet, errors, flattenedVerify, type JWK } from 'jose';
import { z } from 'zod';
import { PLUGIN_API_VERSION, type VerifierPlugin } from '../../src/plugins/types';

const TOLERANCE_SECONDS = 5 * 60;
const ALGORITHMS = ['EdDSA', 'Ed25519', 'ES256', 'ES384', 'RS256', 'PS256'];

const jwk = z
  .object({ kty: z.enum(['OKP', 'EC', 'RSA']) })
  .loose()
  .refine((key) => !('d' in key), 'the JWK must be a public key (no "d")');

const config = z
  .object({
    jwk: jwk.optional().describe('public JWK that signs the requests'),
    jwks_url: z.url({ protocol: /^https?$/ }).optional().describe('JWKS endpoint of the sender'),
    header: z.string().regex(/^[a-z0-9-]+$/).default('jws-signature').describe('request header carrying the detached JWS'),
  })
  .refine((c) => Boolean(c.jwk) !== Boolean(c.jwks_url), 'set exactly one of jwk or jwks_url');
type Config = z.infer<typeof config>;

type KeyResolver = ReturnType<typeof createLocalJWKSet> | ReturnType<typeof createRemoteJWKSet>;
const remoteSets = new Map<string, ReturnType<typeof createRemoteJWKSet>>();
const localSets = new Map<string, ReturnType<typeof createLocalJWKSet>>();

function keyResolver(cfg: Config): KeyResolver {
  if (cfg.jwks_url) {
    let set = remoteSets.get(cfg.jwks_url);
    if (!set) {
      set = createRemoteJWKSet(new URL(cfg.jwks_url), { cacheMaxAge: 10 * 60_000, cooldownDuration: 30_000, timeoutDuration: 5_000 });
      remoteSets.set(cfg.jwks_url, set);
    }
    return set;
  }
  const cacheKey = JSON.stringify(cfg.jwk);
  let set = localSets.get(cacheKey);
  if (!set) {
    set = createLocalJWKSet({ keys: [cfg.jwk as JWK] });
    localSets.set(cacheKey, set);
  }
  return set;
}

function base64url(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function protectedHeader(encoded: string): Record<string, unknown> | null {
  try {
    const json = atob(encoded.replace(/-/g, '+').replace(/_/g, '/'));
    const value: unknown = JSON.parse(json);
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

export const jws: VerifierPlugin<Config> = {
  id: 'jws',
  kind: 'verifier',
  apiVersion: PLUGIN_API_VERSION,
  description: 'Detached compact JWS over the raw body, keys from a JWK or a JWKS URL (EdDSA, ES256, RS256, PS256)',
  config,
  async provision(cfg) {
    return { config: cfg, secrets: [] };
  },
  async verify({ headers, body, config: cfg, now }) {
    const value = headers.get(cfg.header);
    if (!value) return { ok: false, code: 'missing_signature', detail: `the ${cfg.header} header is required` };
    const parts = value.split('.');
    const header = parts.length === 3 && parts[1] === '' ? protectedHeader(parts[0] ?? '') : null;
    if (!header) return { ok: false, code: 'invalid_signature', detail: `${cfg.header} must be a detached compact JWS (header..signature)` };
    if (typeof header.iat === 'number' && Math.abs(now / 1000 - header.iat) > TOLERANCE_SECONDS) {
      return { ok: false, code: 'stale_signature', detail: `iat is outside the ${TOLERANCE_SECONDS} s tolerance` };
    }
    const payload = header.b64 === false ? body : base64url(body);
    try {
      await flattenedVerify({ protected: parts[0], payload, signature: parts[2] ?? '' }, keyResolver(cfg), {
        algorithms: ALGORITHMS,
        crit: { b64: true },
      });
      return { ok: true, scheme: String(header.alg) };
    } catch (error) {
      if (!(error instanceof errors.JOSEError)) throw error;
      return { ok: false, code: 'invalid_signature', detail: `JWS verification failed: ${(error as Error).message}` };
    }
  },
};
