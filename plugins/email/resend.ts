/**
 * Resend's send endpoint (`POST /emails`, `Authorization: Bearer re_…`) and how its answers become
 * outcomes. The kit's classification stands (2xx delivered, 429 and 5xx retried with Retry-After,
 * other 4xx rejected); this adds Resend's own words (`{statusCode, name, message}`) to the reason and
 * one exception: a 409 `invalid_idempotent_request` (the same key with a changed message, after the
 * templates were edited mid-retry) can never succeed, where the kit would retry every 409.
 */
import { postAndClassify } from '../../src/plugins/kit';
import type { ActionContext, ActionOutcome, OutboundEmail } from '../../src/plugins/types';

export const RESEND_API_URL = 'https://api.resend.com';
export const USER_AGENT = 'Switchyard-Email/1';

export interface ResendTarget {
  apiUrl: string;
  apiKey: string;
  /** Stable across retries of one delivery (Resend keeps it 24 h, 1-256 characters). */
  idempotencyKey: string;
}

/** Resend's JSON body: snake_case fields, `from` as `Name <addr>`. */
export function resendBody(email: OutboundEmail): Record<string, unknown> {
  const from = typeof email.from === 'string' ? email.from : `${email.from.name.replace(/["\\]/g, '')} <${email.from.email}>`;
  return {
    from,
    to: email.to,
    ...(email.cc ? { cc: email.cc } : {}),
    ...(email.bcc ? { bcc: email.bcc } : {}),
    ...(email.replyTo ? { reply_to: email.replyTo } : {}),
    subject: email.subject,
    ...(email.text === undefined ? {} : { text: email.text }),
    ...(email.html === undefined ? {} : { html: email.html }),
  };
}

export async function sendWithResend(ctx: ActionContext<unknown>, target: ResendTarget, email: OutboundEmail): Promise<ActionOutcome> {
  const url = `${target.apiUrl.replace(/\/+$/, '')}/emails`;
  const outcome = await postAndClassify(ctx, {
    url,
    headers: {
      authorization: `Bearer ${target.apiKey}`,
      'content-type': 'application/json',
      'idempotency-key': target.idempotencyKey.slice(0, 256),
      'user-agent': USER_AGENT,
    },
    body: JSON.stringify(resendBody(email)),
  });
  return explainResend(outcome);
}

/** Adds Resend's error name and message to a failed outcome, and gives up on a changed idempotent request. */
export function explainResend(outcome: ActionOutcome): ActionOutcome {
  if (outcome.kind === 'delivered' || outcome.kind === 'gone' || outcome.status === undefined) return outcome;
  const said = resendError(outcome.responseBody);
  const words = said ? ` ${said.name}: ${said.message}` : '';
  const body = outcome.responseBody === undefined ? {} : { responseBody: outcome.responseBody };
  if (outcome.status === 409 && said?.name === 'invalid_idempotent_request') {
    const error = `Resend answered 409${words} (the message changed while this delivery was retried, and Resend holds its key, the delivery id, for 24 h)`;
    return { kind: 'rejected', status: 409, error, ...body };
  }
  if (outcome.status === 401 || outcome.status === 403) {
    return { kind: 'rejected', status: outcome.status, error: `Resend refused the API key (${outcome.status}${words}); set a valid api_key`, ...body };
  }
  return { ...outcome, error: `Resend answered ${outcome.status}${words}` };
}

function resendError(body: string | undefined): { name: string; message: string } | null {
  if (!body) return null;
  try {
    const parsed = JSON.parse(body) as { name?: unknown; message?: unknown };
    if (typeof parsed.name !== 'string') return null;
    return { name: parsed.name.slice(0, 64), message: typeof parsed.message === 'string' ? parsed.message.slice(0, 300) : '' };
  } catch {
    return null;
  }
}
