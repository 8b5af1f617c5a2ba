/**
 * The receiver's side of Standard Webhooks: checks `webhook-signature` against the raw body and
 * returns the CloudEvent Switchyard delivered. `v1` entries are checked with `whsec_` secrets
 * (HMAC-SHA256), `v1a` entries with `whpk_` Ed25519 public keys; one valid entry for any of the given
 * secrets is enough, so a receiver accepts old and new secret while a rotation runs. The timestamp must
 * be within `toleranceSeconds` of now in both directions (replays of old messages are refused).
 */
import { concatBytes, fromBase64, timingSafeEqual, utf8 } from './encoding.ts';
import type { EventMap, ReceivedEvent } from './events.ts';
import { cachedKey, hmacKey, type Key } from './signing.ts';

export type WebhookVerificationReason = 'missing_headers' | 'timestamp_too_old' | 'timestamp_too_new' | 'no_matching_signature' | 'invalid_body';

export class WebhookVerificationError extends Error {
  readonly reason: WebhookVerificationReason;
  constructor(reason: WebhookVerificationReason, message: string) {
    super(message);
    this.name = 'WebhookVerificationError';
    this.reason = reason;
  }
}

/** A Fetch `Headers`, or a plain record such as Node's `req.headers` (names in any case). */
export type HeadersInput = Headers | Record<string, string | readonly string[] | undefined>;

export interface VerifyWebhookOptions {
  /** `whsec_…` secrets and/or `whpk_…` public keys; several while a rotation runs. */
  secrets: string | readonly string[];
  headers: HeadersInput;
  /** The raw body exactly as received: verify before any JSON parsing or re-serialising. */
  body: string | Uint8Array;
  toleranceSeconds?: number;
  /** The current time in milliseconds (tests). */
  now?: number;
}

const MAX_SIGNATURE_ENTRIES = 16;

/**
 * Verifies a delivery and returns its CloudEvent; throws a {@link WebhookVerificationError} whose
 * `reason` says why it was refused (`missing_headers` also covers a malformed `webhook-timestamp`).
 * A malformed secret is a configuration bug and throws a `TypeError`. `Events` (from
 * `switchyard types pull`) types `data` by `type`; it is not checked at run time.
 */
export async function verifyWebhook<Events extends object = EventMap>(options: VerifyWebhookOptions): Promise<ReceivedEvent<Events>> {
  const id = header(options.headers, 'webhook-id');
  const timestamp = header(options.headers, 'webhook-timestamp');
  const signature = header(options.headers, 'webhook-signature');
  if (!id || !timestamp || !signature) {
    throw new WebhookVerificationError('missing_headers', 'webhook-id, webhook-timestamp and webhook-signature headers are required');
  }
  if (!/^\d{1,12}$/.test(timestamp)) throw new WebhookVerificationError('missing_headers', 'webhook-timestamp must be integer seconds since the epoch');
  const tolerance = options.toleranceSeconds ?? 300;
  const skew = (options.now ?? Date.now()) / 1000 - Number(timestamp);
  if (skew > tolerance) throw new WebhookVerificationError('timestamp_too_old', `webhook-timestamp is ${Math.round(skew)} s old; tolerance is ${tolerance} s`);
  if (skew < -tolerance) {
    throw new WebhookVerificationError('timestamp_too_new', `webhook-timestamp is ${Math.round(-skew)} s in the future; tolerance is ${tolerance} s`);
  }

  const body = typeof options.body === 'string' ? utf8(options.body) : options.body;
  const content = concatBytes(utf8(`${id}.${timestamp}.`), body);
  const entries = signature
    .split(' ')
    .filter((entry) => entry !== '')
    .slice(0, MAX_SIGNATURE_ENTRIES);
  const secrets = typeof options.secrets === 'string' ? [options.secrets] : options.secrets;
  if (secrets.length === 0) throw new TypeError('verifyWebhook needs at least one secret');
  if (!(await matches(entries, secrets, content))) throw new WebhookVerificationError('no_matching_signature', 'no signature in webhook-signature matches');

  let event: unknown;
  try {
    event = JSON.parse(new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(body));
  } catch {
    throw new WebhookVerificationError('invalid_body', 'the body is not JSON');
  }
  if (typeof event !== 'object' || event === null || Array.isArray(event) || typeof (event as { type?: unknown }).type !== 'string') {
    throw new WebhookVerificationError('invalid_body', 'the body is not a CloudEvent (a JSON object with a type)');
  }
  return event as ReceivedEvent<Events>;
}

async function matches(entries: string[], secrets: readonly string[], content: Uint8Array<ArrayBuffer>): Promise<boolean> {
  const candidates = entries.map((entry) => {
    const comma = entry.indexOf(',');
    return { scheme: entry.slice(0, comma), value: comma > 0 ? fromBase64(entry.slice(comma + 1)) : null };
  });
  const v1 = candidates.flatMap((c) => (c.scheme === 'v1' && c.value?.length === 32 ? [c.value] : []));
  const v1a = candidates.flatMap((c) => (c.scheme === 'v1a' && c.value?.length === 64 ? [c.value] : []));
  for (const secret of secrets) {
    if (secret.startsWith('whpk_')) {
      const key = await cachedKey(secret, ed25519VerifyKey);
      for (const candidate of v1a) if (await crypto.subtle.verify('Ed25519', key, candidate, content)) return true;
    } else if (v1.length > 0) {
      // one MAC per secret, compared with every candidate in constant time
      const mac = new Uint8Array(await crypto.subtle.sign('HMAC', await cachedKey(secret, hmacKey), content));
      if (v1.some((candidate) => timingSafeEqual(candidate, mac))) return true;
    }
  }
  return false;
}

function ed25519VerifyKey(publicKey: string): Promise<Key> {
  const raw = fromBase64(publicKey.slice(5));
  if (raw?.length !== 32) return Promise.reject(new TypeError('malformed whpk_ key: expected the base64 of a 32-byte Ed25519 public key'));
  return crypto.subtle.importKey('raw', raw, { name: 'Ed25519' }, false, ['verify']);
}

function header(headers: HeadersInput, name: string): string | null {
  if (headers instanceof Headers) return headers.get(name);
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() !== name || value === undefined) continue;
    return typeof value === 'string' ? value : value.join(', ');
  }
  return null;
}
