import { describe, expect, it } from 'vitest';
import { discord } from '../../plugins/discord';
import type { ActionInput, PluginEvent } from '../../src/plugins/types';
import { actionContext, cloudEvent, fakeDestination } from '../fixtures/fake-destination';

const DISCORD_URL = 'https://discord.com/api/webhooks/1/token';
const input = (event: PluginEvent = cloudEvent()): ActionInput => ({
  event,
  deliveryId: 'dlv_01',
  subscriptionId: 'sub_01',
  attempt: 1,
  secrets: ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'],
});

async function sendDiscord(config: Record<string, unknown>, event?: PluginEvent, response = new Response(null, { status: 204 })) {
  const destination = fakeDestination(response);
  const outcome = await discord.execute(input(event), actionContext(discord.config.parse({ url: DISCORD_URL, ...config }), destination.fetch));
  return { outcome, request: destination.requests[0], body: JSON.parse(destination.requests[0]?.body ?? 'null') as { content: string } };
}

describe('discord action', () => {
  it('posts content with mentions disabled when Discord answers 204', async () => {
    const { outcome, body } = await sendDiscord({ template: '{{type}} for {{data.order.total}} @everyone' });
    expect(outcome).toEqual({ kind: 'delivered', status: 204 });
    expect(body).toEqual({ content: 'orders.created for 12.50 € @everyone', allowed_mentions: { parse: [] } });
  });

  it('uses the default template when none is configured', async () => {
    expect((await sendDiscord({})).body.content).toBe('**orders.created** order-42');
  });

  it('caps content at 2000 characters when the rendered message is longer', async () => {
    const { body } = await sendDiscord({ template: '{{data.text}}' }, cloudEvent({ data: { text: '😀'.repeat(1500) } }));
    expect(body.content.length).toBeLessThanOrEqual(2000);
    expect(body.content.endsWith('…')).toBe(true);
    expect(body.content).not.toMatch(/[\uD800-\uDBFF]…$/);
  });

  it('falls back to the event type when the rendered content is blank', async () => {
    const { body } = await sendDiscord({ template: '{{subject}}' }, cloudEvent({ subject: undefined }));
    expect(body.content).toBe('orders.created');
  });

  it('rejects without sending when the URL is a private address', async () => {
    const destination = fakeDestination();
    const outcome = await discord.execute(input(), actionContext(discord.config.parse({ url: 'http://192.168.0.10/hook' }), destination.fetch));
    expect(outcome).toMatchObject({ kind: 'rejected', error: expect.stringContaining('private') });
    expect(destination.requests).toHaveLength(0);
  });
});
