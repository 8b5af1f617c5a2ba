/**
 * The `webhook` action: POSTs the event as a structured-mode CloudEvent to the subscriber's endpoint,
 * signed with Standard Webhooks headers (DESIGN.md §3 "Outbound webhook").
 *
 * Rules a reader would not guess:
 * - `webhook-id` is the delivery id, identical on every retry, so the receiver can deduplicate;
 *   `webhook-timestamp` is the time of this attempt, so retries stay inside the receiver's tolerance.
 * - Each subscription secret signs one entry of `webhook-signature` (the kit's `signatureHeaders`). A
 *   secret that cannot sign is a permanent `rejected`: no retry will repair it.
 * - Configured headers cannot replace what the delivery depends on: hop-by-hop headers, `host`,
 *   `content-length`, `content-type` and any `webhook-*` header are refused at config time.
 * - Header values are write-only (`secret`): they usually carry the endpoint's credentials, so they
 *   are stored sealed and read back as `********`; header names stay readable.
 * - Everything the destination or the network does becomes an outcome (`postAndClassify`); only bugs throw.
 */
import { z } from 'zod';
import { PLUGIN_API_VERSION, secret, type ActionPlugin } from '../../src/plugins/types';
import { postAndClassify, signatureHeaders, traceHeaders } from '../../src/plugins/kit';

export const CLOUDEVENTS_JSON = 'application/cloudevents+json; charset=utf-8';
export const USER_AGENT = 'Switchyard-Webhooks/1';

const RESERVED_HEADERS = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'content-length',
  'content-type',
]);

const headers = z
  .record(
    z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'not an HTTP header name'),
    secret(
      z
        .string()
        .max(4096)
        .regex(/^[^\r\n\0]*$/, 'header values cannot contain line breaks'),
    ),
  )
  .superRefine((record, ctx) => {
    const names = Object.keys(record);
    if (names.length > 32) ctx.addIssue({ code: 'custom', message: 'at most 32 headers' });
    for (const name of names) {
      const lower = name.toLowerCase();
      if (RESERVED_HEADERS.has(lower) || lower.startsWith('webhook-')) {
        ctx.addIssue({ code: 'custom', path: [name], message: `${lower} is set by Switchyard and cannot be configured` });
      }
    }
  });

const config = z.strictObject({
  url: z
    .url({ protocol: /^https?$/ })
    .max(2048)
    .describe('endpoint that receives the events (http or https)'),
  headers: headers.optional().describe('extra request headers, e.g. an authorization token of the endpoint; values are write-only'),
  timeout_ms: z.int().min(1000).max(15_000).default(15_000).describe('how long to wait for a complete answer'),
});
type Config = z.infer<typeof config>;

export const webhook: ActionPlugin<Config> = {
  id: 'webhook',
  kind: 'action',
  apiVersion: PLUGIN_API_VERSION,
  description: 'POSTs the event as a CloudEvent to an HTTP endpoint, signed with Standard Webhooks headers',
  config,
  async execute(input, ctx) {
    const body = new TextEncoder().encode(JSON.stringify(input.event)) as Uint8Array<ArrayBuffer>;
    let signing: Record<string, string>;
    try {
      signing = await signatureHeaders({ id: input.deliveryId, timestamp: Math.floor(Date.now() / 1000), body, secrets: input.secrets });
    } catch (error) {
      return { kind: 'rejected', error: `cannot sign the delivery: ${error instanceof Error ? error.message : String(error)}` };
    }
    const requestHeaders = new Headers({ 'user-agent': USER_AGENT });
    for (const [name, value] of Object.entries(ctx.config.headers ?? {})) requestHeaders.set(name, value);
    requestHeaders.set('content-type', CLOUDEVENTS_JSON);
    for (const [name, value] of Object.entries(signing)) requestHeaders.set(name, value);
    // W3C Trace Context: a child of the event's trace, so the receiver's trace joins the producer's
    const trace = traceHeaders(input.event);
    for (const [name, value] of Object.entries(trace)) requestHeaders.set(name, value);
    return postAndClassify(ctx, { url: ctx.config.url, headers: requestHeaders, body, timeoutMs: ctx.config.timeout_ms });
  },
};
