/**
 * Standard Webhooks (https://www.standardwebhooks.com): `webhook-id`, `webhook-timestamp` and
 * `webhook-signature` headers; `v1` is HMAC-SHA256 with a `whsec_` secret, `v1a` is Ed25519 with a
 * `whpk_` public key, both over `${id}.${timestamp}.${body}`. Several space-separated signatures may
 * be sent (key rotation); one valid signature is enough.
 */
import { z } from 'zod';
import { PLUGIN_API_VERSION, type VerifierPlugin } from '../../src/plugins/types';
import { concatBytes, fromBase64, toBase64, utf8 } from '../../src/lib/encoding';

export const TOLERANCE_SECONDS = 5 * 60;

const config = z.object({
  public_keys: z
    .array(z.string().regex(/^whpk_[A-Za-z0-9+/=]+$/, 'expected a whpk_ Ed25519 public key (base64 of 32 bytes)'))
    .max(8)
    .optional()
    .describe('Ed25519 public keys accepted for v1a signatures'),
});
type Config = z.infer<typeof config>;

const hmacKeys = new Map<string, Promise<CryptoKey>>();
const edKeys = new Map<string, Promise<CryptoKey>>();

function hmacKey(secret: string): Promise<CryptoKey> {
  let key = hmacKeys.get(secret);
  if (!key) {
    const raw = fromBase64(secret.startsWith('whsec_') ? secret.slice(6) : secret);
    if (!raw || raw.length < 16) return Promise.reject(new Error('malformed whsec_ secret'));
    key = crypto.subtle.importKey('raw', raw, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
    hmacKeys.set(secret, key);
  }
  return key;
}

function edKey(publicKey: string): Promise<CryptoKey> {
  let key = edKeys.get(publicKey);
  if (!key) {
    const raw = fromBase64(publicKey.slice('whpk_'.length));
    if (!raw || raw.length !== 32) return Promise.reject(new Error('malformed whpk_ key'));
    key = crypto.subtle.importKey('raw', raw, { name: 'Ed25519' }, false, ['verify']);
    edKeys.set(publicKey, key);
  }
  return key;
}

export function newSecret(): string {
  return `whsec_${toBase64(crypto.getRandomValues(new Uint8Array(24)))}`;
}

/** Signs like a Standard Webhooks sender would (used by the webhook action and by tests). */
export async function signV1(secret: string, id: string, timestamp: number, body: Uint8Array<ArrayBuffer>): Promise<string> {
  const content = concatBytes(utf8(`${id}.${timestamp}.`), body);
  const mac = await crypto.subtle.sign('HMAC', await hmacKey(secret), content);
  return `v1,${toBase64(new Uint8Array(mac))}`;
}

export const standardWebhooks: VerifierPlugin<Config> = {
  id: 'standard-webhooks',
  kind: 'verifier',
  apiVersion: PLUGIN_API_VERSION,
  description: 'Standard Webhooks signatures: v1 (HMAC-SHA256, whsec_ secret) and v1a (Ed25519, whpk_ key)',
  config,
  async provision(cfg) {
    return { config: cfg, secrets: cfg.public_keys?.length ? [] : [newSecret()] };
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
    const content = concatBytes(utf8(`${id}.${timestamp}.`), body);
    for (const entry of signatures.split(' ')) {
      const comma = entry.indexOf(',');
      const scheme = entry.slice(0, comma);
      const signature = comma > 0 ? fromBase64(entry.slice(comma + 1)) : null;
      if (!signature) continue;
      if (scheme === 'v1') {
        for (const secret of secrets) {
          // subtle.verify compares in constant time
          if (await crypto.subtle.verify('HMAC', await hmacKey(secret), signature, content)) return { ok: true, scheme };
        }
      } else if (scheme === 'v1a' && signature.length === 64) {
        for (const publicKey of cfg.public_keys ?? []) {
          if (await crypto.subtle.verify('Ed25519', await edKey(publicKey), signature, content)) return { ok: true, scheme };
        }
      }
    }
    return { ok: false, code: 'invalid_signature', detail: 'no signature in webhook-signature matches' };
  },
};
