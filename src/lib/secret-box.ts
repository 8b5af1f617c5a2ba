/**
 * AES-256-GCM for secrets at rest. The key comes from the `ENCRYPTION_KEY` Workers secret (32 bytes,
 * base64). Ciphertext format: `v1.<base64 iv>.<base64 ciphertext+tag>`.
 */
import { fromBase64, toBase64, utf8 } from './encoding';

const keys = new Map<string, Promise<CryptoKey>>();

function importKey(encodedKey: string): Promise<CryptoKey> {
  let key = keys.get(encodedKey);
  if (!key) {
    const raw = fromBase64(encodedKey);
    if (raw?.length !== 32) throw new Error('ENCRYPTION_KEY must be 32 bytes of base64');
    key = crypto.subtle.importKey('raw', raw, 'AES-GCM', false, ['encrypt', 'decrypt']);
    keys.set(encodedKey, key);
  }
  return key;
}

export async function seal(encodedKey: string, plaintext: string): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const sealed = await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, await importKey(encodedKey), utf8(plaintext));
  return `v1.${toBase64(iv)}.${toBase64(new Uint8Array(sealed))}`;
}

export async function open(encodedKey: string, ciphertext: string): Promise<string> {
  const [version, iv, body] = ciphertext.split('.');
  const ivBytes = iv ? fromBase64(iv) : null;
  const bodyBytes = body ? fromBase64(body) : null;
  if (version !== 'v1' || !ivBytes || !bodyBytes) throw new Error('unreadable secret ciphertext');
  const plain = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: ivBytes }, await importKey(encodedKey), bodyBytes);
  return new TextDecoder().decode(plain);
}
