/**
 * GitHub webhooks: `X-Hub-Signature-256: sha256=<hex>` is HMAC-SHA256 of the raw body keyed with the
 * webhook secret's UTF-8 bytes. The body is JSON or, for hooks set to
 * `application/x-www-form-urlencoded`, a form whose `payload` field holds the JSON; either way the
 * signature covers the bytes as sent. The event becomes `github.<event>[.<action>]`, its id the
 * `X-GitHub-Delivery` GUID, so GitHub's redeliveries deduplicate.
 */
import { z } from 'zod';
import { PLUGIN_API_VERSION, type PluginEvent, type VerifierPlugin } from '../../src/plugins/types';
import { fromHex, toBase64, toHex, utf8 } from '../../src/plugins/kit';

const config = z.strictObject({}).describe('no settings: the webhook secret is the source secret');
type Config = z.infer<typeof config>;

const SIGNATURE = /^sha256=([0-9a-f]{64})$/i;
const REPOSITORY = /^[\w.-]+\/[\w.-]+$/;

/** GitHub event and action names are snake_case; anything else is squashed so the type stays dot-notation. */
function segment(value: string): string {
  return value
    .toLowerCase()
    .replace(/[^a-z0-9_-]/g, '-')
    .slice(0, 100);
}

function record(value: unknown): Record<string, unknown> | undefined {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

function readPayload(headers: Headers, body: Uint8Array): unknown {
  try {
    const text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(body);
    const type = (headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
    const json = type === 'application/x-www-form-urlencoded' ? new URLSearchParams(text).get('payload') : text;
    return json === null ? undefined : (JSON.parse(json) as unknown);
  } catch {
    return undefined;
  }
}

function subjectOf(payload: Record<string, unknown>): string | undefined {
  const number = record(payload.pull_request)?.number ?? record(payload.issue)?.number;
  if (typeof number === 'number') return String(number);
  return typeof payload.ref === 'string' ? payload.ref : undefined;
}

function toEvent(delivery: string, name: string, payload: unknown, body: Uint8Array): PluginEvent {
  const object = record(payload);
  const action = typeof object?.action === 'string' && object.action ? `.${segment(object.action)}` : '';
  const repository = record(object?.repository)?.full_name;
  const subject = object ? subjectOf(object) : undefined;
  // No `time`: a redelivery must produce the same event (same body) to deduplicate rather than conflict.
  return {
    specversion: '1.0',
    id: delivery,
    source: typeof repository === 'string' && REPOSITORY.test(repository) ? `https://github.com/${repository}` : 'https://github.com',
    type: `github.${segment(name)}${action}`,
    ...(subject === undefined ? {} : { subject }),
    // a signed body GitHub would never send is kept verbatim rather than dropped
    ...(payload === undefined
      ? { datacontenttype: 'application/octet-stream', data_base64: toBase64(body) }
      : { datacontenttype: 'application/json', data: payload }),
  };
}

export const github: VerifierPlugin<Config> = {
  id: 'github',
  kind: 'verifier',
  // WebCrypto on the request only: no deadline timer (src/plugins/types.ts)
  computeOnly: true,
  apiVersion: PLUGIN_API_VERSION,
  description: 'GitHub webhooks: X-Hub-Signature-256 (HMAC-SHA256 of the body); events become github.<event>.<action>',
  config,
  async provision(cfg, supplied) {
    return { config: cfg, secrets: [supplied || toHex(crypto.getRandomValues(new Uint8Array(32)))] };
  },
  async verify({ headers, body, secrets }) {
    const signature = headers.get('x-hub-signature-256');
    const name = headers.get('x-github-event');
    const delivery = headers.get('x-github-delivery');
    if (!signature || !name || !delivery) {
      return { ok: false, code: 'missing_signature', detail: 'X-Hub-Signature-256, X-GitHub-Event and X-GitHub-Delivery headers are required' };
    }
    const hex = SIGNATURE.exec(signature.trim())?.[1];
    if (!hex) return { ok: false, code: 'invalid_signature', detail: 'X-Hub-Signature-256 must be sha256=<64 hex digits>' };
    const mac = fromHex(hex)!; // SIGNATURE only matches 64 hex digits
    for (const secret of secrets) {
      const key = await crypto.subtle.importKey('raw', utf8(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
      // subtle.verify compares in constant time
      if (await crypto.subtle.verify('HMAC', key, mac, body)) {
        return { ok: true, scheme: 'sha256', event: toEvent(delivery, name, readPayload(headers, body), body) };
      }
    }
    return { ok: false, code: 'invalid_signature', detail: 'X-Hub-Signature-256 does not match the body' };
  },
};
