/**
 * A configurable HMAC verifier for senders with their own scheme: which header, which hash, hex or
 * base64, an optional prefix (`sha256=`), and either the body alone or `${timestamp}.${body}` signed.
 * The secret's UTF-8 bytes are the key. Several signatures (at most `MAX_SIGNATURES`) may be sent,
 * separated by spaces or commas; one match is enough. The signature vouches for the body (and the
 * timestamp when `timestamp.body`) only: the id and type headers are not signed. The payload is
 * wrapped into a CloudEvent whose id, absent an id header, is the SHA-256 of the body, so a sender's
 * identical resends deduplicate.
 */
import { z } from 'zod';
import { MAX_SIGNATURE_HEADER, MAX_SIGNATURES, PLUGIN_API_VERSION, type PluginEvent, type VerifierPlugin } from '../../src/plugins/types';
import { concatBytes, fromBase64, fromHex, sha256Hex, toBase64, toHex, utf8 } from '../../src/plugins/kit';

export const TOLERANCE_SECONDS = 5 * 60;
const EVENT_TYPE = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)+$/;
const HASHES = { sha256: 'SHA-256', sha512: 'SHA-512', sha1: 'SHA-1' } as const;
const MAC_BYTES = { sha256: 32, sha512: 64, sha1: 20 } as const;

const headerName = z.string().regex(/^[A-Za-z0-9-]{1,64}$/, 'expected an HTTP header name');

const config = z
  .strictObject({
    header: headerName.default('x-signature').describe('request header carrying the signature'),
    algorithm: z.enum(['sha256', 'sha512', 'sha1']).default('sha256'),
    encoding: z.enum(['hex', 'base64']).default('hex').describe('how the MAC is written; base64 may be URL-safe'),
    prefix: z.string().max(32).default('').describe('text before each signature, e.g. "sha256="'),
    signed: z.enum(['body', 'timestamp.body']).default('body').describe('what the MAC covers: the raw body, or `${timestamp}.${body}`'),
    timestamp_header: headerName.optional().describe('header with the unix-seconds timestamp; required for timestamp.body'),
    id_header: headerName.optional().describe('header with the delivery id; defaults to the SHA-256 of the body'),
    type_header: headerName.optional().describe('header with the event type, normalised to dot-notation'),
    event_type: z
      .string()
      .max(256)
      .regex(EVENT_TYPE, 'event_type must be dot-notation, e.g. "orders.created"')
      .refine((t) => !t.toLowerCase().startsWith('switchyard.'), 'types starting with "switchyard." are reserved for system events')
      .default('webhook.received'),
    source: z.string().min(1).max(1024).default('urn:switchyard:hmac').describe('CloudEvent source of the wrapped events'),
  })
  .refine((c) => c.signed !== 'timestamp.body' || c.timestamp_header !== undefined, {
    message: 'timestamp_header is required when signed is "timestamp.body"',
    path: ['timestamp_header'],
  });
type Config = z.infer<typeof config>;

/** `Order Created` → `webhook.order-created`; `Orders.Created` → `orders.created`. */
export function eventType(raw: string): string | null {
  const segments = raw
    .toLowerCase()
    .replace(/[^a-z0-9_.-]/g, '-')
    .split('.')
    .filter(Boolean);
  const type = (segments.length === 1 ? ['webhook', ...segments] : segments).join('.').slice(0, 256);
  return EVENT_TYPE.test(type) ? type : null;
}

function payload(headers: Headers, body: Uint8Array<ArrayBuffer>): Pick<PluginEvent, 'data' | 'data_base64' | 'datacontenttype'> {
  const contentType = headers.get('content-type');
  const media = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(body);
  } catch {
    return { datacontenttype: contentType ?? 'application/octet-stream', data_base64: toBase64(body) };
  }
  if (media === '' || media === 'application/json' || media.endsWith('+json')) {
    try {
      return { datacontenttype: 'application/json', data: JSON.parse(text) as unknown };
    } catch {
      // not JSON after all: kept as text below
    }
  }
  return { datacontenttype: media.startsWith('text/') && contentType ? contentType : 'text/plain', data: text };
}

export const hmac: VerifierPlugin<Config> = {
  id: 'hmac',
  kind: 'verifier',
  // WebCrypto on the request only: no deadline timer (src/plugins/types.ts)
  computeOnly: true,
  apiVersion: PLUGIN_API_VERSION,
  description: 'Generic HMAC signatures (SHA-256/512/1, hex or base64, optional timestamp); wraps the payload as a CloudEvent',
  config,
  async provision(cfg, supplied) {
    return { config: cfg, secrets: [supplied || toHex(crypto.getRandomValues(new Uint8Array(32)))] };
  },
  async verify({ headers, body, config: cfg, secrets, now }) {
    const value = headers.get(cfg.header);
    const timed = cfg.signed === 'timestamp.body';
    const timestamp = timed && cfg.timestamp_header ? headers.get(cfg.timestamp_header) : null;
    if (!value || (timed && !timestamp)) {
      const names = timed ? `${cfg.header} and ${cfg.timestamp_header} headers are` : `the ${cfg.header} header is`;
      return { ok: false, code: 'missing_signature', detail: `${names} required` };
    }
    if (timestamp !== null) {
      if (!/^\d{1,12}$/.test(timestamp))
        return { ok: false, code: 'invalid_signature', detail: `${cfg.timestamp_header} must be integer seconds since the epoch` };
      const skew = Math.abs(now / 1000 - Number(timestamp));
      if (skew > TOLERANCE_SECONDS) {
        return {
          ok: false,
          code: 'stale_signature',
          detail: `${cfg.timestamp_header} is ${Math.round(skew)} s away from now; tolerance is ${TOLERANCE_SECONDS} s`,
        };
      }
    }
    if (value.length > MAX_SIGNATURE_HEADER) {
      return { ok: false, code: 'invalid_signature', detail: `${cfg.header} is ${value.length} characters long; at most ${MAX_SIGNATURE_HEADER} are accepted` };
    }
    const entries = value.split(/[\s,]+/).filter((entry) => entry !== '');
    if (entries.length > MAX_SIGNATURES) {
      return { ok: false, code: 'invalid_signature', detail: `${cfg.header} holds ${entries.length} signatures; at most ${MAX_SIGNATURES} are accepted` };
    }
    const macs = entries
      .filter((entry) => entry.startsWith(cfg.prefix) && entry.length > cfg.prefix.length)
      .map((entry) => (cfg.encoding === 'hex' ? fromHex(entry.slice(cfg.prefix.length)) : fromBase64(entry.slice(cfg.prefix.length))))
      // a MAC of another length can never match
      .filter((mac): mac is Uint8Array<ArrayBuffer> => mac !== null && mac.length === MAC_BYTES[cfg.algorithm]);
    if (macs.length === 0)
      return {
        ok: false,
        code: 'invalid_signature',
        detail: `no ${cfg.encoding} ${cfg.algorithm} signature${cfg.prefix ? ` after "${cfg.prefix}"` : ''} in ${cfg.header}`,
      };
    const content = timestamp !== null ? concatBytes(utf8(`${timestamp}.`), body) : body;
    // one MAC per secret, compared with every candidate: the cost does not grow with the header
    for (const secret of secrets) {
      const key = await crypto.subtle.importKey('raw', utf8(secret), { name: 'HMAC', hash: HASHES[cfg.algorithm] }, false, ['sign']);
      const expected = new Uint8Array(await crypto.subtle.sign('HMAC', key, content));
      if (macs.some((mac) => crypto.subtle.timingSafeEqual(mac, expected))) {
        const id = (cfg.id_header && headers.get(cfg.id_header)) || (await sha256Hex(body));
        const typeHeader = cfg.type_header ? headers.get(cfg.type_header) : null;
        const event: PluginEvent = {
          specversion: '1.0',
          id,
          source: cfg.source,
          type: (typeHeader && eventType(typeHeader)) || cfg.event_type,
          ...payload(headers, body),
        };
        return { ok: true, scheme: `hmac-${cfg.algorithm}`, event };
      }
    }
    return { ok: false, code: 'invalid_signature', detail: `no signature in ${cfg.header} matches` };
  },
};
