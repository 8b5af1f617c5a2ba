/**
 * Cloudflare Email Service through the `send_email` binding (`ActionContext.email`), in its structured
 * form: the platform builds the MIME message, so none is built here. The binding throws an `Error`
 * with a `code`; rate and quota limits and the service's own faults are retried, every other code
 * (an unverified sender, a suppressed or disallowed recipient, an invalid message) is permanent.
 * An error without a code is an infrastructure fault (the binding's RPC failed) and is retried.
 */
import type { ActionOutcome, EmailSender, OutboundEmail } from '../../src/plugins/types';

const RETRYABLE_CODES = new Set(['E_RATE_LIMIT_EXCEEDED', 'E_DAILY_LIMIT_EXCEEDED', 'E_INTERNAL_SERVER_ERROR', 'E_DELIVERY_FAILED']);

export async function sendWithBinding(sender: EmailSender | undefined, email: OutboundEmail): Promise<ActionOutcome> {
  // a deployment may bind SEND_EMAIL later; until then the delivery waits on the retry schedule
  if (!sender) return { kind: 'retry', error: 'this deployment has no send_email binding (add [[send_email]] name = "SEND_EMAIL" to wrangler.toml)' };
  try {
    const { messageId } = await sender.send(email);
    return { kind: 'delivered', responseBody: JSON.stringify({ message_id: messageId }) };
  } catch (error) {
    return classifySendError(error);
  }
}

export function classifySendError(error: unknown): ActionOutcome {
  const code = typeof (error as { code?: unknown } | null)?.code === 'string' ? (error as { code: string }).code : undefined;
  const message = (error instanceof Error ? error.message : String(error)).slice(0, 300);
  if (code === undefined) return { kind: 'retry', error: `send_email failed: ${message}` };
  if (RETRYABLE_CODES.has(code)) return { kind: 'retry', error: `send_email answered ${code}: ${message}` };
  return { kind: 'rejected', error: `send_email answered ${code}: ${message}` };
}
