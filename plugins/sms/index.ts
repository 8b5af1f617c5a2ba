/**
 * The `sms` action: sends a text rendered from a template through a Twilio-compatible Messages API
 * (`POST {api_url}/2010-04-01/Accounts/{account_sid}/Messages.json`, form-encoded `To`, `From` or
 * `MessagingServiceSid`, `Body`; HTTP Basic `account_sid:auth_token`).
 *
 * Rules a reader would not guess:
 * - Numbers are E.164 (`+14155550100`). `to` may instead be one placeholder (`{{data.phone}}`); an
 *   event whose value is not an E.164 number fails for good (`rejected`) without a request.
 * - The body is cut to Twilio's 1,600 characters; Twilio refuses longer ones with a 400 (21617).
 * - Twilio's error body (`{code, message, more_info}`) is added to the reason. Its statuses say what
 *   to do: 400 (21211 invalid `To`, 21610 unsubscribed recipient, …) and 401 (20003, bad credentials)
 *   are permanent; 429 (20429) and 5xx are retried.
 * - Twilio has no idempotency key for messages: an answer lost after Twilio accepted the message
 *   means the retry sends it again (at-least-once, like every action).
 */
import { z } from 'zod';
import { capLength, postAndClassify, renderTemplate, toBase64, utf8 } from '../../src/plugins/kit';
import { PLUGIN_API_VERSION, secret, type ActionOutcome, type ActionPlugin } from '../../src/plugins/types';

export const TWILIO_API_URL = 'https://api.twilio.com';
export const DEFAULT_SMS_TEMPLATE = '{{type}} {{subject}}';
export const SMS_BODY_LIMIT = 1600;
export const E164 = /^\+[1-9]\d{1,14}$/;
const PLACEHOLDER = /^\{\{\s*[A-Za-z_][\w-]*(?:\.[\w-]+)*\s*\}\}$/;

const config = z
  .strictObject({
    account_sid: z
      .string()
      .regex(/^AC[0-9a-fA-F]{32}$/, 'an Account SID: AC followed by 32 hex digits')
      .describe('Twilio Account SID (AC…), the user of HTTP Basic authentication'),
    auth_token: secret(z.string().min(1).max(256)).describe('Twilio auth token (write-only)'),
    from: z.string().regex(E164, 'an E.164 number such as +14155550100').optional().describe('sender number (E.164)'),
    messaging_service_sid: z
      .string()
      .regex(/^MG[0-9a-fA-F]{32}$/, 'a Messaging Service SID: MG followed by 32 hex digits')
      .optional()
      .describe('send through a Messaging Service instead of one number'),
    to: z
      .string()
      .max(200)
      .refine((text) => E164.test(text) || PLACEHOLDER.test(text), 'an E.164 number such as +14155550100, or a single {{placeholder}}')
      .describe('recipient: an E.164 number, or one {{placeholder}} such as {{data.phone}}'),
    template: z.string().min(1).max(SMS_BODY_LIMIT).optional().describe('message text with {{type}}, {{subject}}, {{data.path}} placeholders'),
    api_url: z
      .url({ protocol: /^https?$/ })
      .max(2048)
      .default(TWILIO_API_URL)
      .describe('API base URL; the default is Twilio'),
  })
  .refine((value) => value.from !== undefined || value.messaging_service_sid !== undefined, {
    path: ['from'],
    message: 'set from (an E.164 number) or messaging_service_sid',
  });
type Config = z.infer<typeof config>;

export const sms: ActionPlugin<Config> = {
  id: 'sms',
  kind: 'action',
  apiVersion: PLUGIN_API_VERSION,
  description: 'Sends a templated SMS through a Twilio-compatible Messages API',
  config,
  async checkConfig(c, ctx) {
    // the token travels in a header: HTTPS only, as for a verifier's key material
    const refusal = ctx.egressRefusal(c.api_url);
    return refusal ? [{ pointer: '/api_url', detail: `api_url is refused: ${refusal}` }] : [];
  },
  async execute(input, ctx) {
    const { config: c } = ctx;
    const to = E164.test(c.to) ? c.to : renderTemplate(c.to, input.event).trim();
    if (!E164.test(to)) return { kind: 'rejected', error: `${c.to} rendered to ${JSON.stringify(to.slice(0, 40))}, which is not an E.164 number` };
    const text = renderTemplate(c.template ?? DEFAULT_SMS_TEMPLATE, input.event).trim() || input.event.type;
    const form = new URLSearchParams({ To: to });
    if (c.messaging_service_sid) form.set('MessagingServiceSid', c.messaging_service_sid);
    else if (c.from) form.set('From', c.from);
    form.set('Body', capLength(text, SMS_BODY_LIMIT));
    const outcome = await postAndClassify(ctx, {
      url: `${c.api_url.replace(/\/+$/, '')}/2010-04-01/Accounts/${c.account_sid}/Messages.json`,
      headers: {
        authorization: `Basic ${toBase64(utf8(`${c.account_sid}:${c.auth_token}`))}`,
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'application/json',
      },
      body: form.toString(),
    });
    return explainTwilio(outcome);
  },
};

/** Adds Twilio's error code and message to a failed outcome (statuses already decided it). */
export function explainTwilio(outcome: ActionOutcome): ActionOutcome {
  if (outcome.kind === 'delivered' || outcome.kind === 'gone' || outcome.status === undefined || !outcome.responseBody) return outcome;
  let said: { code?: unknown; message?: unknown };
  try {
    said = JSON.parse(outcome.responseBody) as typeof said;
  } catch {
    return outcome;
  }
  if (typeof said.code !== 'number' || typeof said.message !== 'string') return outcome;
  const reason = `Twilio answered ${outcome.status} with error ${said.code}: ${said.message.slice(0, 300)} (https://www.twilio.com/docs/errors/${said.code})`;
  return { ...outcome, error: outcome.status === 401 ? `${reason}; check account_sid and auth_token` : reason };
}
