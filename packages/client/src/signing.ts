/**
 * Standard Webhooks signing (https://www.standardwebhooks.com), the way Switchyard signs: every
 * entry of `webhook-signature` covers `${webhook-id}.${webhook-timestamp}.${body}`.
 * - `whsec_<base64>`: an HMAC-SHA256 key, signs a `v1,<base64 mac>` entry.
 * - `whsk_<base64 of a 32-byte Ed25519 seed>`: an Ed25519 private key, signs a `v1a,<base64>` entry;
 *   receivers check it with the matching `whpk_` public key.
 */
import { concatBytes, fromBase64, toBase64, utf8 } from './encoding.ts';

export type WebhookHeaders = { 'webhook-id': string; 'webhook-timestamp': string; 'webhook-signature': string };

export interface SignWebhookOptions {
  /** `webhook-id`: the message id, the same on every retry of one message. */
  id: string;
  body: string | Uint8Array;
  /** One secret, or several (a rotation, newest first): each signs one entry. */
  secrets: string | readonly string[];
  /** `webhook-timestamp` in Unix seconds; now when absent. */
  timestamp?: number;
}

// DER prefix of a PKCS#8 Ed25519 private key; the 32-byte seed follows (RFC 8410 §7)
const PKCS8_ED25519 = [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];
const KEY_CACHE_LIMIT = 64;
/** WebCrypto's key type, named so that it compiles under DOM and Node typings alike. */
export type Key = Awaited<ReturnType<typeof crypto.subtle.importKey>>;
const keys = new Map<string, Promise<Key>>();

/** The three Standard Webhooks headers for a message; throws on a secret that is neither `whsec_` nor `whsk_`. */
export async function signWebhook(options: SignWebhookOptions): Promise<WebhookHeaders> {
  const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000);
  const body = typeof options.body === 'string' ? utf8(options.body) : options.body;
  const content = concatBytes(utf8(`${options.id}.${timestamp}.`), body);
  const secrets = typeof options.secrets === 'string' ? [options.secrets] : options.secrets;
  if (secrets.length === 0) throw new TypeError('signWebhook needs at least one secret');
  const entries = await Promise.all(secrets.map((secret) => signEntry(secret, content)));
  return { 'webhook-id': options.id, 'webhook-timestamp': String(timestamp), 'webhook-signature': entries.join(' ') };
}

async function signEntry(secret: string, content: Uint8Array<ArrayBuffer>): Promise<string> {
  if (secret.startsWith('whsk_')) {
    const signature = await crypto.subtle.sign('Ed25519', await cachedKey(secret, ed25519SigningKey), content);
    return `v1a,${toBase64(new Uint8Array(signature))}`;
  }
  const mac = await crypto.subtle.sign('HMAC', await cachedKey(secret, hmacKey), content);
  return `v1,${toBase64(new Uint8Array(mac))}`;
}

/** A new `whsec_` secret: 24 random bytes, as Standard Webhooks senders issue them. */
export function generateWebhookSecret(): string {
  return `whsec_${toBase64(crypto.getRandomValues(new Uint8Array(24)))}`;
}

/** The HMAC-SHA256 key of a `whsec_` secret (the prefix may be left out, as the Standard Webhooks libraries allow). */
export function hmacKey(secret: string): Promise<Key> {
  const raw = whsecBytes(secret);
  if (!raw) return Promise.reject(new TypeError(MALFORMED_WHSEC));
  return crypto.subtle.importKey('raw', raw, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
}

export const MALFORMED_WHSEC = 'malformed secret: expected whsec_ and the base64 of at least 16 bytes';

/** The key bytes of a `whsec_` secret, or null when it is not one. */
export function whsecBytes(secret: string): Uint8Array<ArrayBuffer> | null {
  const raw = fromBase64(secret.startsWith('whsec_') ? secret.slice(6) : secret);
  return raw && raw.length >= 16 ? raw : null;
}

function ed25519SigningKey(secret: string): Promise<Key> {
  const seed = fromBase64(secret.slice(5));
  if (seed?.length !== 32) return Promise.reject(new TypeError('malformed whsk_ secret: expected the base64 of a 32-byte Ed25519 seed'));
  return crypto.subtle.importKey('pkcs8', new Uint8Array([...PKCS8_ED25519, ...seed]), { name: 'Ed25519' }, false, ['sign']);
}

/** Imports each secret once per isolate; a small bound keeps rotated secrets from piling up. */
export function cachedKey(secret: string, importKey: (secret: string) => Promise<Key>): Promise<Key> {
  let key = keys.get(secret);
  if (!key) {
    if (keys.size >= KEY_CACHE_LIMIT) keys.clear();
    key = importKey(secret);
    key.catch(() => keys.delete(secret));
    keys.set(secret, key);
  }
  return key;
}
