import { describe, expect, it } from 'vitest';
import { slack } from '../../plugins/slack';
import type { ActionInput, PluginEvent } from '../../src/plugins/types';
import { actionContext, cloudEvent, fakeDestination } from '../fixtures/fake-destination';

const SLACK_URL = 'https://hooks.slack.com/services/T000/B000/XXXX';
const input = (event: PluginEvent = cloudEvent()): ActionInput => ({
  event,
  deliveryId: 'dlv_01',
  subscriptionId: 'sub_01',
  attempt: 1,
  secrets: ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'],
});

async function sendSlack(config: Record<string, unknown>, event?: PluginEvent, response = new Response('ok')) {
  const destination = fakeDestination(response);
  const outcome = await slack.execute(input(event), actionContext(slack.config.parse({ url: SLACK_URL, ...config }), destination.fetch));
  return { outcome, request: destination.requests[0], body: JSON.parse(destination.requests[0]?.body ?? 'null') as unknown };
}

describe('slack action', () => {
  it('posts { text } rendered from the default template when none is configured', async () => {
    const { outcome, request, body } = await sendSlack({});
    expect(outcome).toEqual({ kind: 'delivered', status: 200, responseBody: 'ok' });
    expect(request).toMatchObject({ url: SLACK_URL, method: 'POST' });
    expect(request?.headers.get('content-type')).toBe('application/json');
    expect(body).toEqual({ text: '*orders.created* order-42' });
  });

  it('escapes &, < and > in event values but keeps the template’s own markup', async () => {
    const event = cloudEvent({ subject: '<!channel> & <https://evil.example|click>' });
    const { body } = await sendSlack({ template: '<https://shop.example/orders|Order> {{subject}}' }, event);
    expect(body).toEqual({ text: '<https://shop.example/orders|Order> &lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;' });
  });

  it('reports what Slack answered when the hook is gone or rate limited', async () => {
    expect((await sendSlack({}, undefined, new Response('channel_is_archived', { status: 410 }))).outcome).toMatchObject({ kind: 'gone' });
    expect((await sendSlack({}, undefined, new Response('invalid_payload', { status: 400 }))).outcome).toMatchObject({
      kind: 'rejected',
      responseBody: 'invalid_payload',
    });
    const limited = await sendSlack({}, undefined, new Response('', { status: 429, headers: { 'retry-after': '3' } }));
    expect(limited.outcome).toMatchObject({ kind: 'retry', retryAfterSeconds: 3 });
  });

  it('trims the text and falls back to the event type when the subject is missing', async () => {
    expect((await sendSlack({}, cloudEvent({ subject: undefined }))).body).toEqual({ text: '*orders.created*' });
    expect((await sendSlack({ template: '{{subject}}' }, cloudEvent({ subject: undefined }))).body).toEqual({ text: 'orders.created' });
  });

  it('refuses a config without an http(s) URL or with an empty template', () => {
    expect(slack.config.safeParse({ url: 'javascript:alert(1)' }).success).toBe(false);
    expect(slack.config.safeParse({ url: SLACK_URL, template: '' }).success).toBe(false);
  });
});
