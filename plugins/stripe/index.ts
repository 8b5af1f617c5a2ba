/**
 * Stripe webhooks: `Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>…][,v0=…]`, each `v1` an
 * HMAC-SHA256 of `${t}.${rawBody}` keyed with the endpoint secret's UTF-8 bytes (the `whsec_` string
 * as is; Stripe does not decode it). One matching `v1` is enough (Stripe sends several while an
 * endpoint secret is rolled; at most `MAX_SIGNATURES`). `v0` is a test-mode legacy scheme and is
 * ignored. The timestamp window is checked before any MAC is computed.
 */
import { z } from 'zod';
import { MAX_SIGNATURE_HEADER, MAX_SIGNATURES, PLUGIN_API_VERSION, type PluginEvent, type VerifierPlugin } from '../../src/plugins/types';
import { concatBytes, fromHex, sha256Hex, toBase64, toHex, utf8 } from '../../src/plugins/kit';

export const TOLERANCE_SECONDS = 5 * 60;

const config = z.strictObject({}).describe('no settings: the endpoint signing secret (whsec_…) is the source secret');
type Config = z.infer<typeof config>;

function parseHeader(value: string): { timestamp: string | undefined; signatures: Uint8Array<ArrayBuffer>[]; entries: number } {
  let timestamp: string | undefined;
  const signatures: Uint8Array<ArrayBuffer>[] = [];
  const items = value.split(',');
  for (const item of items) {
    const eq = item.indexOf('=');
    if (eq < 1) continue;
    const key = item.slice(0, eq).trim();
    const val = item.slice(eq + 1).trim();
    if (key === 't') timestamp = val;
    else if (key === 'v1' && /^[0-9a-f]{64}$/i.test(val)) signatures.push(fromHex(val)!);
  }
  return { timestamp, signatures, entries: items.length };
}

function record(value: unknown): Record<string, unknown> | undefined {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

function parseJson(body: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(body)) as unknown;
  } catch {
    return undefined;
  }
}

async function toEvent(body: Uint8Array<ArrayBuffer>): Promise<PluginEvent> {
  const payload = parseJson(body);
  const object = record(payload);
  const type = typeof object?.type === 'string' ? object.type.toLowerCase().replace(/[^a-z0-9_.-]/g, '-') : '';
  const subject = record(record(object?.data)?.object)?.id;
  const created = object?.created;
  const time =
    typeof created === 'number' && Number.isInteger(created) && created > 0 && created < 253402300800 ? new Date(created * 1000).toISOString() : undefined;
  return {
    specversion: '1.0',
    // a signed body without an id still needs one that repeats when Stripe retries it
    id: typeof object?.id === 'string' && object.id ? object.id : await sha256Hex(body),
    source: 'https://api.stripe.com',
    type: /^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/.test(type) ? `stripe.${type}` : 'stripe.event',
    ...(typeof subject === 'string' ? { subject } : {}),
    ...(time ? { time } : {}),
    ...(payload === undefined
      ? { datacontenttype: 'application/octet-stream', data_base64: toBase64(body) }
      : { datacontenttype: 'application/json', data: payload }),
  };
}

export const stripe: VerifierPlugin<Config> = {
  id: 'stripe',
  kind: 'verifier',
  // WebCrypto on the request only: no deadline timer (src/plugins/types.ts)
  computeOnly: true,
  apiVersion: PLUGIN_API_VERSION,
  description: 'Stripe webhooks: Stripe-Signature v1 (HMAC-SHA256 over t.body, whsec_ secret); events become stripe.<type>',
  config,
  async provision(cfg, supplied) {
    return { config: cfg, secrets: [supplied || `whsec_${toHex(crypto.getRandomValues(new Uint8Array(24)))}`] };
  },
  async verify({ headers, body, secrets, now }) {
    const header = headers.get('stripe-signature');
    if (!header) return { ok: false, code: 'missing_signature', detail: 'the Stripe-Signature header is required' };
    if (header.length > MAX_SIGNATURE_HEADER) {
      return {
        ok: false,
        code: 'invalid_signature',
        detail: `Stripe-Signature is ${header.length} characters long; at most ${MAX_SIGNATURE_HEADER} are accepted`,
      };
    }
    const { timestamp, signatures, entries } = parseHeader(header);
    if (entries > MAX_SIGNATURES + 1) {
      return {
        ok: false,
        code: 'invalid_signature',
        detail: `Stripe-Signature holds ${entries} entries; at most a timestamp and ${MAX_SIGNATURES} signatures are accepted`,
      };
    }
    if (!timestamp || !/^\d{1,12}$/.test(timestamp) || signatures.length === 0) {
      return { ok: false, code: 'invalid_signature', detail: 'Stripe-Signature must hold t=<unix seconds> and at least one v1=<hex> signature' };
    }
    // the window is judged before any cryptography, so a stale header costs no MAC over the body
    const skew = Math.abs(now / 1000 - Number(timestamp));
    if (skew > TOLERANCE_SECONDS) {
      return {
        ok: false,
        code: 'stale_signature',
        detail: `the Stripe-Signature timestamp is ${Math.round(skew)} s away from now; tolerance is ${TOLERANCE_SECONDS} s`,
      };
    }
    const content = concatBytes(utf8(`${timestamp}.`), body);
    // one MAC per secret, compared with every candidate: the cost does not grow with the header
    for (const secret of secrets) {
      const key = await crypto.subtle.importKey('raw', utf8(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
      const expected = new Uint8Array(await crypto.subtle.sign('HMAC', key, content));
      if (signatures.some((signature) => crypto.subtle.timingSafeEqual(signature, expected))) return { ok: true, scheme: 'v1', event: await toEvent(body) };
    }
    return { ok: false, code: 'invalid_signature', detail: 'no v1 signature in Stripe-Signature matches the body' };
  },
};
