/**
 * The email, sms and teams actions end to end: subscriptions made through the API, events ingested,
 * and local servers that behave like Resend, Twilio and a Teams Workflows webhook receiving them.
 */
import { describe, expect, it } from 'vitest';
import { toBase64, utf8 } from '../../src/plugins/kit';
import { api, createSource, eventually, ingest, makeEvent, type TestSource } from '../fixtures/api';
import { providersUrl, resendAccount, scriptAnswers, teamsWorkflow, twilioAccount, waitForProviderRequests } from '../fixtures/providers';

const MARKER = '********';
type Delivery = {
  id: string;
  status: string;
  attempts: number;
  last_error: string | null;
  attempt_log: { outcome: string; status_code: number | null; error: string | null; request: { headers: Record<string, string> } | null }[];
};

async function subscribe(source: TestSource, action: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  const res = await api<{ id: string; action: { config: Record<string, unknown> } }>('POST', `/v1/tenants/${source.tenantId}/subscriptions`, {
    types: ['orders.*'],
    action,
    retry_schedule: [0, 1, 1],
    ...extra,
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

async function send(source: TestSource, data: Record<string, unknown>): Promise<string> {
  const res = await ingest(source, makeEvent({ subject: 'order-42', data }));
  expect(res.status).toBe(202);
  return (await res.json<{ id: string }>()).id;
}

async function settled(source: TestSource, eventId: string, status: 'delivered' | 'failed'): Promise<Delivery> {
  const found = await eventually(async () => {
    const list = await api<{ data: Delivery[] }>('GET', `/v1/tenants/${source.tenantId}/deliveries?event_id=${eventId}`);
    return list.body.data.find((d) => d.status === status);
  });
  return (await api<Delivery>('GET', `/v1/tenants/${source.tenantId}/deliveries/${found.id}`)).body;
}

/** Every read a tenant has of a subscription and its deliveries. */
async function everyRead(source: TestSource, subscriptionId: string, deliveryId: string): Promise<string> {
  const t = `/v1/tenants/${source.tenantId}`;
  const reads = await Promise.all(
    [`${t}/subscriptions/${subscriptionId}`, `${t}/subscriptions`, `${t}/deliveries/${deliveryId}`, `${t}/plugins`, '/v1/plugins'].map((p) => api('GET', p)),
  );
  return JSON.stringify(reads.map((r) => r.body));
}

describe('email action (Resend)', () => {
  it('sends the rendered message with the delivery id as Idempotency-Key, retries a 429 after Retry-After, and never returns the key', async () => {
    const source = await createSource();
    const apiKey = await resendAccount();
    await scriptAnswers(apiKey, [{ preset: 'rate_limit_exceeded' }]);
    const sub = await subscribe(source, {
      type: 'email',
      config: {
        provider: 'resend',
        api_url: `${providersUrl()}/resend`,
        api_key: apiKey,
        from: 'Shop <orders@shop.example>',
        to: ['{{data.customer.email}}', 'ops@shop.example'],
        subject: 'Order {{data.order}}\r\nBcc: x@evil.example',
        text: 'Hello {{data.customer.name}}',
        html: '<p>Hello <b>{{data.customer.name}}</b></p>',
      },
    });
    expect(sub.action.config.api_key).toBe(MARKER);
    const eventId = await send(source, { order: 42, customer: { email: 'ada@example.com', name: '<img src=x onerror=alert(1)> & Ada' } });

    const [limited, sent] = await waitForProviderRequests(apiKey, 2);
    expect([limited!.status, sent!.status]).toEqual([429, 200]);
    expect(sent!.at - limited!.at).toBeGreaterThanOrEqual(900);
    expect(sent!.headers.authorization).toBe(`Bearer ${apiKey}`);
    expect(sent!.parsed).toEqual({
      from: 'Shop <orders@shop.example>',
      to: ['ada@example.com', 'ops@shop.example'],
      subject: 'Order 42 Bcc: x@evil.example',
      text: 'Hello <img src=x onerror=alert(1)> & Ada',
      html: '<p>Hello <b>&lt;img src=x onerror=alert(1)&gt; &amp; Ada</b></p>',
    });

    const delivery = await settled(source, eventId, 'delivered');
    expect(limited!.headers['idempotency-key']).toBe(delivery.id);
    expect(sent!.headers['idempotency-key']).toBe(delivery.id);
    expect(delivery.attempt_log.map((a) => [a.outcome, a.status_code])).toEqual([
      ['retry', 429],
      ['delivered', 200],
    ]);
    expect(delivery.attempt_log[0]!.error).toContain('rate_limit_exceeded');
    expect(await everyRead(source, sub.id, delivery.id)).not.toContain(apiKey);
  });

  it('gives up at once with Resend’s reason when the API key is refused', async () => {
    const source = await createSource();
    const apiKey = `re_revoked${crypto.randomUUID().slice(0, 8)}`;
    await subscribe(source, {
      type: 'email',
      config: {
        provider: 'resend',
        api_url: `${providersUrl()}/resend`,
        api_key: apiKey,
        from: 'orders@shop.example',
        to: ['ops@shop.example'],
        subject: '{{type}}',
      },
    });
    const delivery = await settled(source, await send(source, {}), 'failed');
    expect(delivery.attempts).toBe(1);
    expect(delivery.last_error).toMatch(/Resend refused the API key \(403 invalid_api_key: API key is invalid\)/);
  });

  it('sends through the send_email binding when the provider is cloudflare', async () => {
    const source = await createSource();
    await subscribe(source, {
      type: 'email',
      config: { provider: 'cloudflare', from: 'Shop <orders@shop.example>', to: ['{{data.email}}'], subject: 'Order {{data.order}}' },
    });
    const delivery = await settled(source, await send(source, { order: 7, email: 'ada@example.com' }), 'delivered');
    expect(delivery.attempt_log).toMatchObject([{ outcome: 'delivered', error: null }]);
  });

  it('refuses a config with a malformed address, naming the field', async () => {
    const source = await createSource();
    const res = await api<{ code: string; errors: { pointer: string }[] }>('POST', `/v1/tenants/${source.tenantId}/subscriptions`, {
      types: ['orders.*'],
      action: { type: 'email', config: { provider: 'cloudflare', from: 'orders@shop.example', to: ['not an address'], subject: 'x' } },
    });
    expect(res.status).toBe(422);
    expect(res.body.errors.map((e) => e.pointer)).toContain('/action/config/to/0');
  });
});

describe('provider credentials', () => {
  it('are writeOnly in the catalog', async () => {
    const { body } = await api<{ data: { id: string; config_schema: Record<string, unknown> }[] }>('GET', '/v1/plugins');
    const schema = (id: string) => JSON.stringify(body.data.find((t) => t.id === id)!.config_schema);
    expect(schema('email')).toMatch(/"api_key":\{[^}]*"writeOnly":true/);
    expect(schema('sms')).toMatch(/"auth_token":\{[^}]*"writeOnly":true/);
    expect(schema('teams')).toMatch(/"url":\{[^}]*"writeOnly":true/);
    expect(schema('sms')).not.toMatch(/"account_sid":\{[^}]*"writeOnly"/);
  });
});

describe('sms action (Twilio)', () => {
  it('sends form-encoded messages with Basic auth, gives up on Twilio 21211, rotates the token by PATCH and never returns it', async () => {
    const source = await createSource();
    const { accountSid, authToken } = await twilioAccount();
    const plugins = `/v1/tenants/${source.tenantId}/plugins`;
    const config = {
      account_sid: accountSid,
      auth_token: authToken,
      from: '+15005550006',
      to: '{{data.phone}}',
      template: 'Order {{subject}}: {{data.status}}',
      api_url: `${providersUrl()}/twilio`,
    };
    const plugin = await api<{ id: string; config: Record<string, unknown> }>('POST', plugins, { type: 'sms', name: 'customer-texts', config });
    expect(plugin.status, JSON.stringify(plugin.body)).toBe(201);
    expect(plugin.body.config.auth_token).toBe(MARKER);
    const sub = await subscribe(source, { plugin_id: plugin.body.id });

    const sentId = await send(source, { phone: '+14155550100', status: 'shipped' });
    const [sent] = await waitForProviderRequests(accountSid, 1);
    expect(sent).toMatchObject({ status: 201, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(sent!.parsed).toEqual({ To: '+14155550100', From: '+15005550006', Body: 'Order order-42: shipped' });
    expect(sent!.headers.authorization).toBe(`Basic ${toBase64(utf8(`${accountSid}:${authToken}`))}`);
    const delivered = await settled(source, sentId, 'delivered');
    // HTTP Basic holds the token base64-encoded: the recorded request masks the whole header
    expect(delivered.attempt_log[0]!.request!.headers.authorization).toBe(MARKER);

    const invalid = await settled(source, await send(source, { phone: '+15005550001', status: 'shipped' }), 'failed');
    expect(invalid.attempts).toBe(1);
    expect(invalid.last_error).toContain("Twilio answered 400 with error 21211: Invalid 'To' Phone Number: +15005550001");
    const malformed = await settled(source, await send(source, { phone: '555-0100' }), 'failed');
    expect(malformed.last_error).toContain('not an E.164 number');
    expect(await waitForProviderRequests(accountSid, 2)).toHaveLength(2);

    const rotated = (await twilioAccount(accountSid)).authToken;
    const patched = await api('PATCH', `${plugins}/${plugin.body.id}`, { config: { ...config, auth_token: rotated } });
    expect(patched.status).toBe(200);
    await settled(source, await send(source, { phone: '+14155550100', status: 'delivered' }), 'delivered');
    expect((await waitForProviderRequests(accountSid, 3))[2]!.status).toBe(201);

    const reads = await everyRead(source, sub.id, delivered.id);
    for (const secret of [authToken, rotated, toBase64(utf8(`${accountSid}:${authToken}`))]) expect(reads).not.toContain(secret);
  });

  it('refuses a recipient that is not E.164, naming the field', async () => {
    const source = await createSource();
    const res = await api<{ errors: { pointer: string }[] }>('POST', `/v1/tenants/${source.tenantId}/subscriptions`, {
      types: ['orders.*'],
      action: { type: 'sms', config: { account_sid: `AC${'0'.repeat(32)}`, auth_token: 't', from: '+15005550006', to: '0044 20 7946 0000' } },
    });
    expect(res.status).toBe(422);
    expect(res.body.errors.map((e) => e.pointer)).toContain('/action/config/to');
  });
});

describe('teams action', () => {
  it('posts an Adaptive Card whose event values cannot inject Markdown and keeps the URL write-only', async () => {
    const source = await createSource();
    const workflow = await teamsWorkflow();
    const sub = await subscribe(source, {
      type: 'teams',
      config: {
        url: workflow.url,
        title: '**New order** {{subject}}',
        text: 'Note: {{data.note}}',
        facts: [{ title: 'Amount', value: '{{data.amount}} EUR' }],
      },
    });
    expect(sub.action.config.url).toBe(MARKER);
    const eventId = await send(source, { amount: 42, note: '[click](https://evil.example) *now*' });

    const [posted] = await waitForProviderRequests(workflow.id, 1);
    expect(posted!.status).toBe(202);
    expect(posted!.parsed).toEqual({
      type: 'message',
      attachments: [
        {
          contentType: 'application/vnd.microsoft.card.adaptive',
          contentUrl: null,
          content: {
            $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
            type: 'AdaptiveCard',
            version: '1.4',
            body: [
              { type: 'TextBlock', text: '**New order** order-42', weight: 'Bolder', size: 'Medium', wrap: true },
              { type: 'TextBlock', text: 'Note: \\[click\\]\\(https://evil.example\\) \\*now\\*', wrap: true },
              { type: 'FactSet', facts: [{ title: 'Amount', value: '42 EUR' }] },
            ],
          },
        },
      ],
    });
    const delivery = await settled(source, eventId, 'delivered');
    expect(delivery.attempt_log.map((a) => a.status_code)).toEqual([202]);
    const reads = await everyRead(source, sub.id, delivery.id);
    expect(reads).not.toContain(new URL(workflow.url).searchParams.get('sig'));
  });
});
