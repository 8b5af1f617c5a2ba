/**
 * The `discord` action: posts a message rendered from a template to a Discord webhook. Mentions are
 * switched off (`allowed_mentions: { parse: [] }`) so event data cannot ping `@everyone`; the content
 * is cut to Discord's 2000-character limit, since Discord refuses longer messages with a 400 that no
 * retry would fix. Discord answers 204 on success and 429 with Retry-After when rate limited.
 */
import { z } from 'zod';
import { PLUGIN_API_VERSION, secret, type ActionPlugin } from '../../src/plugins/types';
import { capLength, postAndClassify, renderTemplate } from '../../src/plugins/kit';

export const DEFAULT_DISCORD_TEMPLATE = '**{{type}}** {{subject}}';
export const DISCORD_CONTENT_LIMIT = 2000;

const config = z.strictObject({
  // the URL is the credential: whoever has it can post to the channel
  url: secret(z.url({ protocol: /^https?$/ }).max(2048)).describe('Discord webhook URL (write-only)'),
  template: z.string().min(1).max(4000).optional().describe('message content with {{type}}, {{subject}}, {{id}}, {{data.path}} placeholders'),
});
type Config = z.infer<typeof config>;

export const discord: ActionPlugin<Config> = {
  id: 'discord',
  kind: 'action',
  apiVersion: PLUGIN_API_VERSION,
  description: 'Posts a templated message to a Discord webhook, with mentions disabled',
  config,
  async execute(input, ctx) {
    const rendered = renderTemplate(ctx.config.template ?? DEFAULT_DISCORD_TEMPLATE, input.event);
    // Discord rejects empty content, and an event without a subject may render to blanks.
    const content = capLength(rendered.trim() || input.event.type, DISCORD_CONTENT_LIMIT);
    const body = JSON.stringify({ content, allowed_mentions: { parse: [] } });
    return postAndClassify(ctx, { url: ctx.config.url, headers: { 'content-type': 'application/json' }, body });
  },
};
