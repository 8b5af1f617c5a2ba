/**
 * Standard Webhooks (https://www.standardwebhooks.com) for the CLI: signing what `send` ingests and
 * what `listen` forwards (`v1`, HMAC-SHA256 with a `whsec_` secret), and checking a delivery the way a
 * receiver does (`verify`): `v1` with `whsec_` secrets, `v1a` (Ed25519) with `whpk_` public keys,
 * several signatures per header (rotation), 5 minutes of tolerance both ways.
 */
import { createHmac, createPublicKey, timingSafeEqual, verify as verifySignature } from 'node:crypto';

export const TOLERANCE_SECONDS = 5 * 60;

function secretBytes(secret: string, prefix: string): Buffer | null {
  const encoded = secret.startsWith(prefix) ? secret.slice(prefix.length) : secret;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) return null;
  const bytes = Buffer.from(encoded, 'base64');
  return bytes.length >= 16 ? bytes : null;
}

/** One `v1,<base64 HMAC-SHA256>` entry over `${id}.${timestamp}.${body}`. */
export function signV1(secret: string, id: string, timestamp: number, body: string | Uint8Array): string {
  const key = secretBytes(secret, 'whsec_');
  if (!key) throw new Error('malformed whsec_ secret (expected whsec_ followed by base64 of at least 16 bytes)');
  const mac = createHmac('sha256', key).update(`${id}.${timestamp}.`).update(body).digest('base64');
  return `v1,${mac}`;
}

/** The three Standard Webhooks headers of one request. */
export function signatureHeaders(secret: string, id: string, body: string | Uint8Array, now = Date.now()): Record<string, string> {
  const timestamp = Math.floor(now / 1000);
  return { 'webhook-id': id, 'webhook-timestamp': String(timestamp), 'webhook-signature': signV1(secret, id, timestamp, body) };
}

export type Verification =
  | { valid: true; scheme: 'v1' | 'v1a'; secretIndex: number }
  | { valid: false; code: 'missing_headers' | 'invalid_timestamp' | 'stale_timestamp' | 'invalid_signature' | 'malformed_secret'; reason: string };

export interface VerifyInput {
  /** `whsec_…` secrets and/or `whpk_…` Ed25519 public keys; any one matching is enough. */
  secrets: readonly string[];
  headers: Record<string, string>;
  body: Uint8Array;
  now?: number;
  toleranceSeconds?: number;
}

export function verifyWebhook({ secrets, headers, body, now = Date.now(), toleranceSeconds = TOLERANCE_SECONDS }: VerifyInput): Verification {
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  const id = lower['webhook-id'];
  const timestamp = lower['webhook-timestamp'];
  const signature = lower['webhook-signature'];
  const missing = [!id && 'webhook-id', !timestamp && 'webhook-timestamp', !signature && 'webhook-signature'].filter(Boolean);
  if (missing.length > 0 || !id || !timestamp || !signature) return { valid: false, code: 'missing_headers', reason: `missing header ${missing.join(', ')}` };
  if (!/^\d{1,12}$/.test(timestamp)) return { valid: false, code: 'invalid_timestamp', reason: `webhook-timestamp ${timestamp} is not Unix seconds` };
  const skew = Math.floor(now / 1000) - Number(timestamp);
  if (Math.abs(skew) > toleranceSeconds) {
    return { valid: false, code: 'stale_timestamp', reason: `webhook-timestamp is ${Math.abs(skew)} s in the ${skew > 0 ? 'past' : 'future'} (tolerance ${toleranceSeconds} s)` };
  }
  const signed = Buffer.concat([Buffer.from(`${id}.${timestamp}.`), body]);
  const entries = signature.split(' ').filter(Boolean);
  for (const [index, secret] of secrets.entries()) {
    if (secret.startsWith('whpk_')) {
      const key = secretBytes(secret, 'whpk_');
      if (!key || key.length !== 32) return { valid: false, code: 'malformed_secret', reason: `secret ${index + 1} is not a whpk_ Ed25519 public key` };
      const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: key.toString('base64url') }, format: 'jwk' });
      for (const entry of entries) {
        if (!entry.startsWith('v1a,')) continue;
        const sig = Buffer.from(entry.slice(4), 'base64');
        if (sig.length === 64 && verifySignature(null, signed, publicKey, sig)) return { valid: true, scheme: 'v1a', secretIndex: index };
      }
      continue;
    }
    const key = secretBytes(secret, 'whsec_');
    if (!key) return { valid: false, code: 'malformed_secret', reason: `secret ${index + 1} is not a whsec_ secret` };
    const expected = createHmac('sha256', key).update(signed).digest();
    for (const entry of entries) {
      if (!entry.startsWith('v1,')) continue;
      const given = Buffer.from(entry.slice(3), 'base64');
      if (given.length === expected.length && timingSafeEqual(given, expected)) return { valid: true, scheme: 'v1', secretIndex: index };
    }
  }
  const schemes = [...new Set(entries.map((e) => e.split(',')[0]))].join(', ') || 'none';
  return { valid: false, code: 'invalid_signature', reason: `no signature matches the given secret(s) (${entries.length} signature(s) of scheme ${schemes})` };
}
