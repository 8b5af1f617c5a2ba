/**
 * Standard Webhooks signatures for outbound deliveries (https://www.standardwebhooks.com): the signer
 * of the `webhook` action, the secrets subscriptions are created with, and `signV1`, which a
 * Standard Webhooks verifier (and a test) uses to check or forge a `v1` entry.
 *
 * Secret formats, told apart by prefix:
 * - `whsec_<base64>`: an HMAC-SHA256 key; signs a `v1,<base64 mac>` entry (the receiver holds the same
 *   secret).
 * - `whsk_<base64 of the 32-byte Ed25519 seed>`: an Ed25519 private key (the RFC 8032 "private key",
 *   the same 32-byte raw shape as the `whpk_` public keys the standard-webhooks verifier takes);
 *   signs a `v1a,<base64 signature>` entry. The receiver holds the `whpk_` key from
 *   {@link ed25519PublicKey}.
 * Every secret given signs one entry, in the given order (newest first during a rotation), so a
 * receiver that knows either the old or the new secret accepts the delivery. All entries sign
 * `${webhook-id}.${webhook-timestamp}.${body}`.
 */
import { concatBytes, fromBase64, toBase64, utf8 } from '../../lib/encoding';

export const ED25519_SECRET_PREFIX = 'whsk_';
export const ED25519_PUBLIC_PREFIX = 'whpk_';

// DER header of a PKCS#8 Ed25519 private key; the 32-byte seed follows it (RFC 8410 §7).
const PKCS8_ED25519_HEADER = [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];
const KEY_CACHE_LIMIT = 1000;
const signingKeys = new Map<string, Promise<CryptoKey>>();
const MAX_CACHED_HMAC_KEYS = 10_000;
const hmacKeys = new Map<string, Promise<CryptoKey>>();

/** A new `whsec_` secret: 24 random bytes, as Standard Webhooks senders issue them. */
export function newWhsecSecret(): string {
  return `whsec_${toBase64(crypto.getRandomValues(new Uint8Array(24)))}`;
}

/** The HMAC-SHA256 key of a `whsec_` secret (the prefix is optional), cached per isolate; rejects a malformed one. */
export function whsecKey(secret: string): Promise<CryptoKey> {
  let key = hmacKeys.get(secret);
  if (!key) {
    const raw = fromBase64(secret.startsWith('whsec_') ? secret.slice(6) : secret);
    if (!raw || raw.length < 16) return Promise.reject(new Error('malformed whsec_ secret'));
    key = crypto.subtle.importKey('raw', raw, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
    // secrets of deleted sources and subscriptions would otherwise stay here for the isolate's life
    if (hmacKeys.size >= MAX_CACHED_HMAC_KEYS) hmacKeys.clear();
    hmacKeys.set(secret, key);
  }
  return key;
}

/** One `v1,<base64 mac>` entry over `${id}.${timestamp}.${body}`, as a Standard Webhooks sender signs. */
export async function signV1(secret: string, id: string, timestamp: number, body: Uint8Array<ArrayBuffer>): Promise<string> {
  const content = concatBytes(utf8(`${id}.${timestamp}.`), body);
  const mac = await crypto.subtle.sign('HMAC', await whsecKey(secret), content);
  return `v1,${toBase64(new Uint8Array(mac))}`;
}

export interface SignInput {
  /** `webhook-id`: the delivery id, so it stays the same across retries and receivers can dedupe. */
  id: string;
  /** `webhook-timestamp`, Unix seconds. */
  timestamp: number;
  body: Uint8Array<ArrayBuffer>;
  /** Signing secrets, newest first. With none, `webhook-signature` is left out. */
  secrets: readonly string[];
}

/** The three Standard Webhooks headers; throws on a secret in neither format. */
export async function signatureHeaders({ id, timestamp, body, secrets }: SignInput): Promise<Record<string, string>> {
  const headers: Record<string, string> = { 'webhook-id': id, 'webhook-timestamp': String(timestamp) };
  const entries = await Promise.all(secrets.map((secret) => signOne(secret, id, timestamp, body)));
  if (entries.length > 0) headers['webhook-signature'] = entries.join(' ');
  return headers;
}

async function signOne(secret: string, id: string, timestamp: number, body: Uint8Array<ArrayBuffer>): Promise<string> {
  if (secret.startsWith('whsec_')) return signV1(secret, id, timestamp, body);
  if (secret.startsWith(ED25519_SECRET_PREFIX)) {
    const prefix = new TextEncoder().encode(`${id}.${timestamp}.`);
    const content = new Uint8Array(prefix.length + body.length);
    content.set(prefix);
    content.set(body, prefix.length);
    const signature = await crypto.subtle.sign('Ed25519', await ed25519Key(secret), content);
    return `v1a,${toBase64(new Uint8Array(signature))}`;
  }
  throw new Error(`signing secret must start with whsec_ or ${ED25519_SECRET_PREFIX}`);
}

/** Makes a new Ed25519 signing secret and the public key to give to receivers. */
export async function newEd25519Secret(): Promise<{ secret: string; publicKey: string }> {
  const pair = (await crypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify'])) as CryptoKeyPair;
  const pkcs8 = new Uint8Array((await crypto.subtle.exportKey('pkcs8', pair.privateKey)) as ArrayBuffer);
  const publicRaw = new Uint8Array((await crypto.subtle.exportKey('raw', pair.publicKey)) as ArrayBuffer);
  return { secret: ED25519_SECRET_PREFIX + toBase64(pkcs8.slice(-32)), publicKey: ED25519_PUBLIC_PREFIX + toBase64(publicRaw) };
}

/** The `whpk_` public key of a `whsk_` secret, for receivers configuring verification. */
export async function ed25519PublicKey(secret: string): Promise<string> {
  const jwk = (await crypto.subtle.exportKey('jwk', await importSeed(secret, true))) as JsonWebKey;
  const raw = jwk.x ? fromBase64(jwk.x) : null;
  if (!raw) throw new Error('the Ed25519 key has no public part');
  return ED25519_PUBLIC_PREFIX + toBase64(raw);
}

function ed25519Key(secret: string): Promise<CryptoKey> {
  let key = signingKeys.get(secret);
  if (!key) {
    // An isolate serves many subscriptions; a crude bound keeps secrets from piling up in memory.
    if (signingKeys.size >= KEY_CACHE_LIMIT) signingKeys.clear();
    key = importSeed(secret, false);
    key.catch(() => signingKeys.delete(secret));
    signingKeys.set(secret, key);
  }
  return key;
}

async function importSeed(secret: string, extractable: boolean): Promise<CryptoKey> {
  const seed = fromBase64(secret.slice(ED25519_SECRET_PREFIX.length));
  if (!secret.startsWith(ED25519_SECRET_PREFIX) || !seed || seed.length !== 32) {
    throw new Error(`malformed ${ED25519_SECRET_PREFIX} secret: expected base64 of a 32-byte Ed25519 seed`);
  }
  const pkcs8 = new Uint8Array([...PKCS8_ED25519_HEADER, ...seed]);
  return crypto.subtle.importKey('pkcs8', pkcs8, { name: 'Ed25519' }, extractable, ['sign']);
}
