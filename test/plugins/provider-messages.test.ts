/**
 * What the email, sms and teams actions build and how they read their providers' answers, without a
 * network: the end-to-end behaviour is in providers-actions.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { email } from '../../plugins/email';
import { classifySendError, sendWithBinding } from '../../plugins/email/cloudflare';
import { explainResend } from '../../plugins/email/resend';
import { sms } from '../../plugins/sms';
import { escapeCardText, explainTeams } from '../../plugins/teams';
import type { OutboundEmail } from '../../src/plugins/types';
import { actionContext, cloudEvent, fakeDestination } from '../fixtures/fake-destination';

const input = (data: unknown = {}) => ({ event: cloudEvent({ data }), deliveryId: 'dlv_01', subscriptionId: 'sub_01', attempt: 1, secrets: [] });
const cloudflare = (config: Record<string, unknown>) =>
  email.config.parse({ provider: 'cloudflare', from: 'Shop <orders@shop.example>', subject: '{{type}}', ...config });

describe('email action', () => {
  it('hands the binding a structured message with the sender name split out and HTML-escaped values', async () => {
    const sent: OutboundEmail[] = [];
    const ctx = {
      ...actionContext(cloudflare({ to: ['{{data.to}}'], bcc: ['audit@shop.example'], html: '<i>{{data.note}}</i>' }), fakeDestination().fetch),
      email: { send: async (message: OutboundEmail) => (sent.push(message), { messageId: '<m1@shop.example>' }) },
    };
    const outcome = await email.execute(input({ to: 'ada@example.com', note: '"<b>" & \'x\'' }), ctx);
    expect(outcome).toEqual({ kind: 'delivered', responseBody: '{"message_id":"<m1@shop.example>"}' });
    expect(sent).toEqual([
      {
        from: { name: 'Shop', email: 'orders@shop.example' },
        to: ['ada@example.com'],
        bcc: ['audit@shop.example'],
        subject: 'orders.created',
        html: '<i>&quot;&lt;b&gt;&quot; &amp; &#39;x&#39;</i>',
      },
    ]);
  });

  it('rejects without sending when a recipient placeholder does not render to an address', async () => {
    const destination = fakeDestination();
    const outcome = await email.execute(
      input({ to: 'ada@example.com\r\nBcc: x@evil.example' }),
      actionContext(cloudflare({ to: ['{{data.to}}'] }), destination.fetch),
    );
    expect(outcome).toMatchObject({ kind: 'rejected', error: expect.stringContaining('not an email address') });
  });

  it('retries the binding’s rate and quota limits and missing binding, and gives up on the rest', async () => {
    const coded = (code: string) => Object.assign(new Error('no'), { code });
    expect(classifySendError(coded('E_RATE_LIMIT_EXCEEDED'))).toMatchObject({ kind: 'retry' });
    expect(classifySendError(coded('E_DAILY_LIMIT_EXCEEDED'))).toMatchObject({ kind: 'retry' });
    expect(classifySendError(coded('E_SENDER_NOT_VERIFIED'))).toMatchObject({ kind: 'rejected', error: 'send_email answered E_SENDER_NOT_VERIFIED: no' });
    expect(classifySendError(new Error('RPC connection lost'))).toMatchObject({ kind: 'retry' });
    const message = { from: 'a@shop.example', to: ['b@shop.example'], subject: 's' };
    expect(await sendWithBinding(undefined, message)).toMatchObject({ kind: 'retry', error: expect.stringContaining('SEND_EMAIL') });
  });

  it('gives up on a 409 invalid_idempotent_request but keeps retrying a concurrent one', () => {
    const conflict = (name: string) =>
      explainResend({ kind: 'retry', status: 409, error: 'destination answered 409', responseBody: JSON.stringify({ statusCode: 409, name, message: 'm' }) });
    expect(conflict('invalid_idempotent_request')).toMatchObject({ kind: 'rejected', status: 409 });
    expect(conflict('concurrent_idempotent_requests')).toMatchObject({ kind: 'retry', error: 'Resend answered 409 concurrent_idempotent_requests: m' });
  });

  it('refuses more than 50 recipients in all and an http api_url is left to checkConfig', () => {
    const many = Array.from({ length: 30 }, (_, i) => `u${i}@shop.example`);
    expect(email.config.safeParse({ provider: 'cloudflare', from: 'a@shop.example', subject: 's', to: many, cc: many }).success).toBe(false);
    expect(email.config.safeParse({ provider: 'resend', from: 'a@shop.example', subject: 's', to: ['b@shop.example'] }).success).toBe(false);
  });
});

describe('sms action', () => {
  it('cuts the body to 1,600 characters and uses the Messaging Service when one is set', async () => {
    const destination = fakeDestination(new Response('{"sid":"SM1"}', { status: 201 }));
    const config = sms.config.parse({
      account_sid: `AC${'a'.repeat(32)}`,
      auth_token: 'token',
      messaging_service_sid: `MG${'b'.repeat(32)}`,
      to: '+14155550100',
      template: '{{data.text}}',
    });
    const outcome = await sms.execute(input({ text: 'x'.repeat(2000) }), actionContext(config, destination.fetch));
    expect(outcome).toMatchObject({ kind: 'delivered', status: 201 });
    const form = new URLSearchParams(destination.requests[0]!.body);
    expect(destination.requests[0]!.url).toBe(`https://api.twilio.com/2010-04-01/Accounts/AC${'a'.repeat(32)}/Messages.json`);
    expect(form.get('MessagingServiceSid')).toBe(`MG${'b'.repeat(32)}`);
    expect(form.get('From')).toBeNull();
    expect(form.get('Body')).toHaveLength(1600);
  });

  it('needs a sender number or a Messaging Service', () => {
    const result = sms.config.safeParse({ account_sid: `AC${'a'.repeat(32)}`, auth_token: 't', to: '+14155550100' });
    expect(result.success).toBe(false);
  });
});

describe('teams action', () => {
  it('escapes Markdown emphasis, links, code and line-start markers in event values', () => {
    expect(escapeCardText('[a](b) **c** _d_ `e`')).toBe('\\[a\\]\\(b\\) \\*\\*c\\*\\* \\_d\\_ \\`e\\`');
    expect(escapeCardText('- item\n# head\n12. n')).toBe('\\- item\n\\# head\n12\\. n');
  });

  it('reads a legacy connector’s 200 that reports a failure', () => {
    const answer = (body: string) => explainTeams({ kind: 'delivered', status: 200, responseBody: body });
    expect(answer('1')).toMatchObject({ kind: 'delivered' });
    expect(answer('Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 429 with ContextId abc')).toMatchObject({
      kind: 'retry',
    });
    expect(answer('Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 413 with ContextId abc')).toMatchObject({
      kind: 'rejected',
    });
  });
});
