/**
 * The `teams` action: posts an Adaptive Card (1.4) rendered from templates to a Microsoft Teams
 * Workflows webhook ("When a Teams webhook request is received") or a legacy incoming-webhook URL:
 * `{type: "message", attachments: [{contentType: "application/vnd.microsoft.card.adaptive", content}]}`
 * with a title, a text and up to 20 facts.
 *
 * Rules a reader would not guess:
 * - The URL is the credential (write-only): Workflows URLs carry their signature in `sig=`.
 * - Card text is Markdown. Event values are escaped ({@link escapeCardText}) so event data cannot
 *   inject links, emphasis or list markup; the templates themselves may use it.
 * - Workflows answer 202; a legacy connector answers 200 even when Teams refused the message, with
 *   the reason in the body ("Webhook message delivery failed with error: … HTTP error 429 …"), so that
 *   body is read: Teams' 429 and 5xx are retried, anything else given up.
 */
import { z } from 'zod';
import { capLength, postAndClassify, renderTemplate } from '../../src/plugins/kit';
import { PLUGIN_API_VERSION, secret, type ActionOutcome, type ActionPlugin, type PluginEvent } from '../../src/plugins/types';

export const DEFAULT_TEAMS_TITLE = '{{type}}';
export const DEFAULT_TEAMS_TEXT = '{{subject}}';
const TEXT_LIMIT = 10_000;
const FACT_LIMIT = 1_000;

const config = z.strictObject({
  url: secret(z.url({ protocol: /^https?$/ }).max(2048)).describe('Teams Workflows webhook or incoming-webhook URL (write-only)'),
  title: z.string().min(1).max(500).optional().describe('card title template (default {{type}})'),
  text: z.string().min(1).max(4000).optional().describe('card text template, Markdown (default {{subject}})'),
  facts: z
    .array(z.strictObject({ title: z.string().min(1).max(200), value: z.string().min(1).max(1000) }))
    .max(20)
    .optional()
    .describe('name/value rows; both are templates, e.g. {"title": "Amount", "value": "{{data.amount}}"}'),
});
type Config = z.infer<typeof config>;

/**
 * Escapes what Adaptive Card Markdown reads as markup (emphasis, links, code, and list or heading
 * markers at a line start) with CommonMark backslash escapes, which Teams shows as the plain character.
 */
export function escapeCardText(text: string): string {
  return text
    .replace(/[\\`*_[\]()<>~]/g, '\\$&')
    .replace(/^(\s*)([-+#])/gm, '$1\\$2')
    .replace(/^(\s*\d+)\./gm, '$1\\.');
}

const render = (template: string, event: PluginEvent, limit: number) => capLength(renderTemplate(template, event, escapeCardText).trim(), limit);

export function adaptiveCard(c: Config, event: PluginEvent): Record<string, unknown> {
  const title = render(c.title ?? DEFAULT_TEAMS_TITLE, event, 500) || escapeCardText(event.type);
  const text = render(c.text ?? DEFAULT_TEAMS_TEXT, event, TEXT_LIMIT);
  const facts = (c.facts ?? []).map((fact) => ({ title: render(fact.title, event, 200), value: render(fact.value, event, FACT_LIMIT) }));
  const body: Record<string, unknown>[] = [{ type: 'TextBlock', text: title, weight: 'Bolder', size: 'Medium', wrap: true }];
  if (text) body.push({ type: 'TextBlock', text, wrap: true });
  if (facts.length) body.push({ type: 'FactSet', facts });
  return {
    type: 'message',
    attachments: [
      {
        contentType: 'application/vnd.microsoft.card.adaptive',
        contentUrl: null,
        content: { $schema: 'http://adaptivecards.io/schemas/adaptive-card.json', type: 'AdaptiveCard', version: '1.4', body },
      },
    ],
  };
}

export const teams: ActionPlugin<Config> = {
  id: 'teams',
  kind: 'action',
  apiVersion: PLUGIN_API_VERSION,
  description: 'Posts an Adaptive Card rendered from templates to a Microsoft Teams Workflows or incoming webhook',
  config,
  async checkConfig(c, ctx) {
    // the URL is the credential: HTTPS only, and the reason never repeats it
    if (!ctx.egressRefusal(c.url)) return [];
    return [{ pointer: '/url', detail: 'the URL must be https to a public host (a local or plain-http one only where EGRESS_ALLOWLIST names its host:port)' }];
  },
  async execute(input, ctx) {
    const outcome = await postAndClassify(ctx, {
      url: ctx.config.url,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(adaptiveCard(ctx.config, input.event)),
    });
    return explainTeams(outcome);
  },
};

const LEGACY_FAILURE = /^Webhook message delivery failed with error: .*?HTTP error (\d{3})/s;

/** A legacy connector's "200, but failed" answer becomes the outcome Teams' own status calls for. */
export function explainTeams(outcome: ActionOutcome): ActionOutcome {
  if (outcome.kind !== 'delivered') return outcome;
  const failed = outcome.responseBody ? LEGACY_FAILURE.exec(outcome.responseBody) : null;
  if (!failed) return outcome;
  const teamsStatus = Number(failed[1]);
  const error = `Teams refused the message (HTTP error ${teamsStatus} behind the connector's 200)`;
  const retryable = teamsStatus === 429 || teamsStatus === 408 || teamsStatus >= 500;
  return { kind: retryable ? 'retry' : 'rejected', status: outcome.status, error, responseBody: outcome.responseBody };
}
