/**
 * Standard Webhooks (https://www.standardwebhooks.com): `webhook-id`, `webhook-timestamp` and
 * `webhook-signature` headers; `v1` is HMAC-SHA256 with a `whsec_` secret, `v1a` is Ed25519 with a
 * `whpk_` public key, both over `${id}.${timestamp}.${body}`. Several space-separated signatures may
 * be sent (key rotation), at most `MAX_SIGNATURES`; one valid signature is enough. The signature
 * vouches for the body, `webhook-id` and `webhook-timestamp`: the verdict names the id as signed, so a
 * binary-mode event must use it as its `ce-id` (its other `ce-*` headers are not signed).
 */
import { z } from 'zod';
import { concatBytes, fromBase64, newWhsecSecret, utf8, whsecKey } from '../../src/plugins/kit';
import { MAX_SIGNATURE_HEADER, MAX_SIGNATURES, PLUGIN_API_VERSION, type VerifierPlugin } from '../../src/plugins/types';

export const TOLERANCE_SECONDS = 5 * 60;
/** Two v1a signatures (a key rotation) against all eight configured keys. */
export const MAX_ED25519_CHECKS = 16;

const config = z.strictObject({
  public_keys: z
    .array(z.string().regex(/^whpk_[A-Za-z0-9+/=]+$/, 'expected a whpk_ Ed25519 public key (base64 of 32 bytes)'))
    .max(8)
    .optional()
    .describe('Ed25519 public keys accepted for v1a signatures'),
});
type Config = z.infer<typeof config>;

const MAX_CACHED_KEYS = 10_000;
const edKeys = new Map<string, Promise<CryptoKey>>();

function edKey(publicKey: string): Promise<CryptoKey> {
  let key = edKeys.get(publicKey);
  if (!key) {
    const raw = fromBase64(publicKey.slice('whpk_'.length));
    if (raw?.length !== 32) return Promise.reject(new Error('malformed whpk_ key'));
    key = crypto.subtle.importKey('raw', raw, { name: 'Ed25519' }, false, ['verify']);
    if (edKeys.size >= MAX_CACHED_KEYS) edKeys.clear();
    edKeys.set(publicKey, key);
  }
  return key;
}

/**
 * The candidates of a `webhook-signature` header, or why it is refused before any cryptography.
 * Entries of other schemes are skipped (a sender may add newer ones), but they count towards the cap.
 */
function readSignatures(header: string): { v1: Uint8Array<ArrayBuffer>[]; v1a: Uint8Array<ArrayBuffer>[] } | string {
  if (header.length > MAX_SIGNATURE_HEADER) return `webhook-signature is ${header.length} characters long; at most ${MAX_SIGNATURE_HEADER} are accepted`;
  const entries = header.split(' ').filter((entry) => entry !== '');
  if (entries.length > MAX_SIGNATURES) return `webhook-signature holds ${entries.length} signatures; at most ${MAX_SIGNATURES} are accepted`;
  const v1: Uint8Array<ArrayBuffer>[] = [];
  const v1a: Uint8Array<ArrayBuffer>[] = [];
  for (const entry of entries) {
    const comma = entry.indexOf(',');
    const scheme = entry.slice(0, comma);
    const signature = comma > 0 ? fromBase64(entry.slice(comma + 1)) : null;
    // a MAC or signature of another length can never match, so it costs nothing later
    if (scheme === 'v1' && signature?.length === 32) v1.push(signature);
    else if (scheme === 'v1a' && signature?.length === 64) v1a.push(signature);
  }
  return { v1, v1a };
}

/** `whsec_` and the base64 of 24 to 64 random bytes, as Standard Webhooks senders issue them. */
export function isSecret(secret: string): boolean {
  if (!secret.startsWith('whsec_') || secret.length > 6 + 88) return false;
  const raw = fromBase64(secret.slice(6));
  return raw !== null && raw.length >= 24 && raw.length <= 64;
}

export const standardWebhooks: VerifierPlugin<Config> = {
  id: 'standard-webhooks',
  kind: 'verifier',
  // WebCrypto on the request only: no deadline timer (src/plugins/types.ts)
  computeOnly: true,
  apiVersion: PLUGIN_API_VERSION,
  description: 'Standard Webhooks signatures: v1 (HMAC-SHA256, whsec_ secret) and v1a (Ed25519, whpk_ key)',
  config,
  async provision(cfg, supplied) {
    if (cfg.public_keys?.length) return { config: cfg, secrets: [] };
    // a secret brought from another Standard Webhooks sender (Svix, …) is kept when it is a real one;
    // anything else is left out of the result, which the caller reports as not accepted
    return { config: cfg, secrets: [supplied !== undefined && isSecret(supplied) ? supplied : newWhsecSecret()] };
  },
  async verify({ headers, body, config: cfg, secrets, now }) {
    const id = headers.get('webhook-id');
    const timestamp = headers.get('webhook-timestamp');
    const signatures = headers.get('webhook-signature');
    if (!id || !timestamp || !signatures) {
      return { ok: false, code: 'missing_signature', detail: 'webhook-id, webhook-timestamp and webhook-signature headers are required' };
    }
    if (!/^\d{1,12}$/.test(timestamp)) {
      return { ok: false, code: 'invalid_signature', detail: 'webhook-timestamp must be integer seconds since the epoch' };
    }
    const skew = Math.abs(now / 1000 - Number(timestamp));
    if (skew > TOLERANCE_SECONDS) {
      return { ok: false, code: 'stale_signature', detail: `webhook-timestamp is ${Math.round(skew)} s away from now; tolerance is ${TOLERANCE_SECONDS} s` };
    }
    const candidates = readSignatures(signatures);
    if (typeof candidates === 'string') return { ok: false, code: 'invalid_signature', detail: candidates };
    const content = concatBytes(utf8(`${id}.${timestamp}.`), body);
    if (candidates.v1.length > 0) {
      // one MAC per secret, compared with every candidate: the cost does not grow with the header
      for (const secret of secrets) {
        const mac = new Uint8Array(await crypto.subtle.sign('HMAC', await whsecKey(secret), content));
        if (candidates.v1.some((candidate) => crypto.subtle.timingSafeEqual(candidate, mac))) return { ok: true, scheme: 'v1', signedId: id };
      }
    }
    // Ed25519 hashes the whole body once per (signature, key): the pairs are bounded before any is tried
    const keys = cfg.public_keys ?? [];
    if (candidates.v1a.length * keys.length > MAX_ED25519_CHECKS) {
      return {
        ok: false,
        code: 'invalid_signature',
        detail: `webhook-signature holds ${candidates.v1a.length} v1a signatures for ${keys.length} public keys; at most ${MAX_ED25519_CHECKS} signature-key pairs are checked, so send one or two v1a signatures`,
      };
    }
    for (const signature of candidates.v1a) {
      for (const publicKey of keys) {
        if (await crypto.subtle.verify('Ed25519', await edKey(publicKey), signature, content)) return { ok: true, scheme: 'v1a', signedId: id };
      }
    }
    return { ok: false, code: 'invalid_signature', detail: 'no signature in webhook-signature matches' };
  },
};
