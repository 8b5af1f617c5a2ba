/**
 * Detached compact JWS over the raw body (RFC 7515 appendix F): the sender puts
 * `<protected>..<signature>` in a header (default `jws-signature`). Keys come from a JWK in the config
 * or from a JWKS URL (cached, refreshed on an unknown `kid`, fetched only through the runtime's guarded
 * fetch: HTTPS to a public destination, checked at registration and at every fetch; any failure reads
 * "the JWKS could not be fetched", whatever the target). Unencoded payloads (RFC 7797, `b64: false`)
 * are accepted. An `iat` in the protected header is held to the same 5-minute tolerance as
 * Standard Webhooks. The signature covers the body only, so binary mode (attributes in `ce-*` headers)
 * is refused for jws sources: send structured or batch CloudEvents, whose attributes are in the body.
 */
import { createLocalJWKSet, createRemoteJWKSet, customFetch, errors, flattenedVerify, type JWK } from 'jose';
import { z } from 'zod';
import { PLUGIN_API_VERSION, type VerifierFetch, type VerifierPlugin } from '../../src/plugins/types';

const TOLERANCE_SECONDS = 5 * 60;
const ALGORITHMS = ['EdDSA', 'Ed25519', 'ES256', 'ES384', 'RS256', 'PS256'];

const jwk = z
  .object({ kty: z.enum(['OKP', 'EC', 'RSA']) })
  .loose()
  .refine((key) => !('d' in key), 'the JWK must be a public key (no "d")');

const config = z
  .strictObject({
    jwk: jwk.optional().describe('public JWK that signs the requests'),
    jwks_url: z
      .url({ protocol: /^https?$/ })
      .optional()
      .describe('JWKS endpoint of the sender'),
    header: z
      .string()
      .regex(/^[a-z0-9-]+$/)
      .default('jws-signature')
      .describe('request header carrying the detached JWS'),
  })
  .refine((c) => Boolean(c.jwk) !== Boolean(c.jwks_url), 'set exactly one of jwk or jwks_url');
type Config = z.infer<typeof config>;

type LocalSet = ReturnType<typeof createLocalJWKSet>;
type KeyResolver = (...args: Parameters<LocalSet>) => ReturnType<LocalSet>;

/** One remote set per URL; `fetch` is the latest request's guarded fetch (the same rules each time). */
interface RemoteSet {
  resolve: ReturnType<typeof createRemoteJWKSet>;
  fetch: VerifierFetch;
  /** When the last fetch failed: within `FAILURE_COOLDOWN_MS` the JWKS is not asked again. */
  failedAt?: number;
}

/** Keeps a failing (or refused) JWKS URL from being fetched once per incoming request. */
const FAILURE_COOLDOWN_MS = 10_000;
const MAX_CACHED_SETS = 1_000;
const remoteSets = new Map<string, RemoteSet>();
const localSets = new Map<string, KeyResolver>();

/** Any failure to get the keys, whatever the target answered: one text, so the verifier cannot be used to probe. */
class JwksUnavailable extends Error {
  override readonly name = 'JwksUnavailable';
}
const JWKS_UNAVAILABLE = 'the JWKS could not be fetched';

function remoteResolver(url: string, fetch: VerifierFetch, now: number): KeyResolver {
  let set = remoteSets.get(url);
  if (!set) {
    if (remoteSets.size >= MAX_CACHED_SETS) remoteSets.clear();
    const holder: RemoteSet = {
      fetch,
      resolve: createRemoteJWKSet(new URL(url), {
        cacheMaxAge: 10 * 60_000,
        cooldownDuration: 30_000,
        // under the verifier's 5 s deadline, so a slow JWKS fails with the same text as any other
        timeoutDuration: 3_000,
        [customFetch]: (href, init) => holder.fetch(href, init),
      }),
    };
    remoteSets.set(url, (set = holder));
  }
  const remote = set;
  remote.fetch = fetch;
  return async (protectedHeader, token) => {
    if (remote.failedAt !== undefined && now - remote.failedAt < FAILURE_COOLDOWN_MS) throw new JwksUnavailable(JWKS_UNAVAILABLE);
    try {
      return await remote.resolve(protectedHeader, token);
    } catch (error) {
      // an unknown kid or alg is about the signature, and only reachable once the keys were fetched
      if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys || error instanceof errors.JOSENotSupported)
        throw error;
      remote.failedAt = now;
      throw new JwksUnavailable(JWKS_UNAVAILABLE, { cause: error });
    }
  };
}

function keyResolver(cfg: Config, fetch: VerifierFetch, now: number): KeyResolver {
  if (cfg.jwks_url) return remoteResolver(cfg.jwks_url, fetch, now);
  const cacheKey = JSON.stringify(cfg.jwk);
  let set = localSets.get(cacheKey);
  if (!set) {
    if (localSets.size >= MAX_CACHED_SETS) localSets.clear();
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
  async checkConfig(cfg, { egressRefusal }) {
    const refusal = cfg.jwks_url ? egressRefusal(cfg.jwks_url) : null;
    return refusal ? [{ pointer: '/jwks_url', detail: `the JWKS URL is refused: ${refusal}` }] : [];
  },
  async verify({ headers, body, config: cfg, now, fetch }) {
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
      await flattenedVerify({ protected: parts[0], payload, signature: parts[2] ?? '' }, keyResolver(cfg, fetch, now), {
        algorithms: ALGORITHMS,
        crit: { b64: true },
      });
      return { ok: true, scheme: String(header.alg) };
    } catch (error) {
      if (error instanceof JwksUnavailable) return { ok: false, code: 'invalid_signature', detail: JWKS_UNAVAILABLE };
      if (!(error instanceof errors.JOSEError)) throw error;
      return { ok: false, code: 'invalid_signature', detail: `JWS verification failed: ${(error as Error).message}` };
    }
  },
};
