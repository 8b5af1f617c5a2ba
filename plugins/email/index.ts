/**
 * The `email` action: sends a message rendered from templates (subject, text and HTML parts, the
 * same `{{path}}` language as `slack`) through Resend's HTTP API (`provider: "resend"`, the default
 * wire shape) or through Cloudflare Email Service's `send_email` binding (`provider: "cloudflare"`,
 * where the deployment binds `SEND_EMAIL`).
 *
 * Rules a reader would not guess:
 * - Event values are HTML-escaped in the HTML part only; the text part and the subject take them as
 *   they are (line breaks in the subject become spaces, so event data cannot add headers).
 * - Recipients are fixed addresses or a single placeholder each (`{{data.customer.email}}`); one
 *   that does not render to an address fails the delivery for good (`rejected`), nothing is sent.
 * - Resend gets the delivery id as `Idempotency-Key`: a retry after a lost answer does not send
 *   the email twice (Resend keeps keys 24 h).
 * - `api_key` is write-only; `api_url` exists so tests and Resend-compatible gateways can be used.
 */
import { z } from 'zod';
import { capLength, renderTemplate } from '../../src/plugins/kit';
import { PLUGIN_API_VERSION, secret, type ActionPlugin, type OutboundEmail, type PluginEvent } from '../../src/plugins/types';
import { address, parseSender, recipient, renderRecipients, sender } from './addresses';
import { sendWithBinding } from './cloudflare';
import { RESEND_API_URL, sendWithResend } from './resend';

export const DEFAULT_EMAIL_TEXT = '{{type}} {{subject}}\n\n{{data}}';
/** Resend's and Cloudflare's limit on to + cc + bcc together. */
export const MAX_RECIPIENTS = 50;
const SUBJECT_LIMIT = 998;

const message = {
  from: sender.describe('sender: name@example.com or "Name <name@example.com>", on a domain verified with the provider'),
  to: z.array(recipient).min(1).max(MAX_RECIPIENTS).describe('recipients: addresses, or one {{placeholder}} each, e.g. {{data.customer.email}}'),
  cc: z.array(recipient).max(MAX_RECIPIENTS).optional(),
  bcc: z.array(recipient).max(MAX_RECIPIENTS).optional(),
  reply_to: address.optional(),
  subject: z.string().min(1).max(SUBJECT_LIMIT).describe('subject template with {{type}}, {{subject}}, {{data.path}} placeholders'),
  text: z.string().min(1).max(20_000).optional().describe('plain-text part template (default: type, subject and data)'),
  html: z.string().min(1).max(100_000).optional().describe('HTML part template; event values are HTML-escaped'),
};

const config = z
  .discriminatedUnion('provider', [
    z.strictObject({
      provider: z.literal('resend').describe('Resend HTTP API (POST {api_url}/emails)'),
      api_key: secret(z.string().min(1).max(256)).describe('Resend API key, re_… (write-only)'),
      api_url: z
        .url({ protocol: /^https?$/ })
        .max(2048)
        .default(RESEND_API_URL)
        .describe('API base URL; the default is Resend'),
      ...message,
    }),
    z.strictObject({
      provider: z.literal('cloudflare').describe('Cloudflare Email Service through the SEND_EMAIL binding'),
      ...message,
    }),
  ])
  .superRefine((value, ctx) => {
    const count = value.to.length + (value.cc?.length ?? 0) + (value.bcc?.length ?? 0);
    if (count > MAX_RECIPIENTS) ctx.addIssue({ code: 'custom', path: ['to'], message: `at most ${MAX_RECIPIENTS} recipients in to, cc and bcc together` });
  });
type Config = z.infer<typeof config>;

export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/** The message for one event, or why it cannot be sent (a recipient placeholder that is not an address). */
export function composeEmail(config: Config, event: PluginEvent): { ok: true; email: OutboundEmail } | { ok: false; problem: string } {
  const to = renderRecipients(config.to, event);
  if (!to.ok) return to;
  const cc = renderRecipients(config.cc, event);
  if (!cc.ok) return cc;
  const bcc = renderRecipients(config.bcc, event);
  if (!bcc.ok) return bcc;
  const from = parseSender(config.from)!;
  const subject = capLength(
    renderTemplate(config.subject, event, undefined, SUBJECT_LIMIT * 4)
      .replace(/[\r\n\t]+/g, ' ')
      .trim(),
    SUBJECT_LIMIT,
  );
  const text = config.text ?? (config.html ? undefined : DEFAULT_EMAIL_TEXT);
  return {
    ok: true,
    email: {
      from: from.name ? { name: from.name, email: from.email } : from.email,
      to: to.addresses,
      ...(cc.addresses.length ? { cc: cc.addresses } : {}),
      ...(bcc.addresses.length ? { bcc: bcc.addresses } : {}),
      ...(config.reply_to ? { replyTo: config.reply_to } : {}),
      subject: subject || event.type,
      ...(text ? { text: renderTemplate(text, event) } : {}),
      ...(config.html ? { html: renderTemplate(config.html, event, escapeHtml) } : {}),
    },
  };
}

export const email: ActionPlugin<Config> = {
  id: 'email',
  kind: 'action',
  apiVersion: PLUGIN_API_VERSION,
  description: 'Sends a templated email (text and HTML) through Resend or the Cloudflare Email Service binding',
  config,
  async checkConfig(c, ctx) {
    // the key travels in a header: HTTPS only, as for a verifier's key material
    const refusal = c.provider === 'resend' ? ctx.egressRefusal(c.api_url) : null;
    return refusal ? [{ pointer: '/api_url', detail: `api_url is refused: ${refusal}` }] : [];
  },
  async execute(input, ctx) {
    const composed = composeEmail(ctx.config, input.event);
    if (!composed.ok) return { kind: 'rejected', error: composed.problem };
    if (ctx.config.provider === 'cloudflare') return sendWithBinding(ctx.email, composed.email);
    return sendWithResend(ctx, { apiUrl: ctx.config.api_url, apiKey: ctx.config.api_key, idempotencyKey: input.deliveryId }, composed.email);
  },
};
