/**
 * The `slack` action: posts a message rendered from a template to a Slack incoming webhook
 * (`{ text }`). Event values are escaped for Slack's mrkdwn (`&`, `<`, `>`), so event data cannot
 * forge links or `<!channel>` mentions; the template itself may use Slack markup. Responses are
 * classified like any webhook (Slack answers 404/410 for a removed hook, 429 with Retry-After).
 */
import { z } from 'zod';
import { PLUGIN_API_VERSION, secret, type ActionPlugin } from '../../src/plugins/types';
import { capLength, postAndClassify, renderTemplate } from '../../src/plugins/kit';

export const DEFAULT_SLACK_TEMPLATE = '*{{type}}* {{subject}}';
// Slack truncates longer messages itself; sending more only wastes the request.
const SLACK_TEXT_LIMIT = 40_000;

const config = z.strictObject({
  // the URL is the credential: whoever has it can post to the channel
  url: secret(z.url({ protocol: /^https?$/ }).max(2048)).describe('Slack incoming webhook URL (write-only)'),
  template: z.string().min(1).max(4000).optional().describe('message text with {{type}}, {{subject}}, {{id}}, {{data.path}} placeholders'),
});
type Config = z.infer<typeof config>;

export function escapeSlack(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export const slack: ActionPlugin<Config> = {
  id: 'slack',
  kind: 'action',
  apiVersion: PLUGIN_API_VERSION,
  description: 'Posts a templated message to a Slack incoming webhook',
  config,
  async execute(input, ctx) {
    const rendered = renderTemplate(ctx.config.template ?? DEFAULT_SLACK_TEMPLATE, input.event, escapeSlack).trim();
    // Slack refuses an empty text with `no_text`, and an event without a subject may render to blanks.
    const text = capLength(rendered || escapeSlack(input.event.type), SLACK_TEXT_LIMIT);
    return postAndClassify(ctx, { url: ctx.config.url, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text }) });
  },
};
