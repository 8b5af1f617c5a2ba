/**
 * The network verifiers get (`VerifierFetch`): what webhooks may reach, narrowed to HTTPS, since what
 * a verifier fetches is key material and a plain-HTTP JWKS lets anyone on the path swap the keys. Only
 * a destination named in `EGRESS_ALLOWLIST` (local testing) may be plain HTTP or local.
 */
import type { VerifierFetch } from '../plugins/types';
import { createGuardedFetch, EgressRefused } from './guarded-fetch';
import { checkDestination } from './ssrf-guard';

/** Under the verifier deadline (5 s), so a slow JWKS reads as "could not be fetched" like any other failure. */
export const VERIFIER_FETCH_TIMEOUT_MS = 3_000;
/** A JWKS of a few keys is a few KB; more than this is not a key set we want to parse. */
export const VERIFIER_BODY_LIMIT_BYTES = 64 * 1024;

/** Why a verifier may not fetch `url`, or null. `allowlist` holds normalised `host[:port]` entries (`parseAllowlist`). */
export function verifierEgressRefusal(url: string, allowlist: readonly string[]): string | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'not a valid URL';
  }
  // the allow-list's own matching (see ssrf-guard.ts): an entry without a port means the default one
  const port = parsed.port || (parsed.protocol === 'https:' ? '443' : '80');
  const listed = allowlist.includes(`${parsed.hostname}:${port}`) || (parsed.port === '' && allowlist.includes(parsed.hostname));
  if (parsed.protocol !== 'https:' && !listed) {
    return `only https URLs may be fetched (plain http only for a host:port listed in EGRESS_ALLOWLIST, for local testing)`;
  }
  const verdict = checkDestination(url, allowlist);
  return verdict.ok ? null : verdict.reason;
}

export function verifierFetch(allowlist: readonly string[]): VerifierFetch {
  const guarded = createGuardedFetch({ allowlist, timeoutMs: VERIFIER_FETCH_TIMEOUT_MS, bodyLimitBytes: VERIFIER_BODY_LIMIT_BYTES });
  return async function fetchForVerifier(url, init) {
    const refusal = verifierEgressRefusal(url, allowlist);
    if (refusal) throw new EgressRefused(url, refusal);
    return guarded(url, init);
  };
}
