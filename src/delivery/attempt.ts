/**
 * One attempt of one delivery: the subscription's transformer (if any), then its action, through the
 * guarded fetch. Returns what happened; never throws for anything a plugin or destination does.
 * With `deps.exchange`, the last request the action sent through the guarded fetch and its answer's
 * head are left there, masked and bounded (./exchange.ts), for the attempt's record.
 */
import { runAction, runTransformer, type Instance } from '../plugins/runner';
import { pluginType } from '../plugins/registry';
import { maskSecrets, openSecrets } from '../plugins/secret-fields';
import type { ActionOutcome, ActionPlugin, EmailSender, PluginEvent, ScriptSandbox, TransformerPlugin } from '../plugins/types';
import type { ClaimedDelivery } from '../db/deliveries-consumer';
import { finishExchange, secretValues, type Exchange } from './exchange';
import { createGuardedFetch } from './guarded-fetch';

export type AttemptResult = ActionOutcome | { kind: 'skipped'; reason: string };

export interface AttemptDeps {
  allowlist: readonly string[];
  secrets: readonly string[];
  /** Opens the sealed secret fields of the action's config (`ENCRYPTION_KEY`). */
  encryptionKey: string;
  /** The tenant's script sandbox; absent without the Worker Loader binding. */
  sandbox?: ScriptSandbox;
  /** The `send_email` binding (`SEND_EMAIL`), lent to actions where the deployment has it. */
  email?: EmailSender;
  /** What the guarded fetch fetches with (the delivery.attempt span notes the outbound traceparent); default: fetch. */
  fetchImpl?: typeof fetch;
  /** Receives the request as sent and the answer's head (both null when nothing was sent). */
  exchange?: Exchange;
}

function instance<P>(kind: string, type: string | null, config: unknown, name: string): Instance<P> {
  const plugin = type ? pluginType(type) : undefined;
  const parsed = plugin?.kind === kind ? plugin.config.safeParse(config ?? {}) : undefined;
  return {
    id: type ?? kind,
    name,
    plugin: plugin as P,
    config: parsed?.success ? parsed.data : null,
    eventTypes: ['**'],
    unavailable: parsed?.success ? undefined : `${kind} plugin ${type ?? '(none)'} is unavailable or its config is invalid`,
  };
}

export async function attemptDelivery(delivery: ClaimedDelivery, deps: AttemptDeps): Promise<AttemptResult> {
  let event = delivery.event as PluginEvent;
  if (delivery.transformer_type) {
    const transformer = instance<TransformerPlugin>(
      'transformer',
      delivery.transformer_type,
      delivery.transformer_config,
      delivery.transformer_name ?? 'transformer',
    );
    const verdict = await runTransformer(delivery.tenant_id, transformer, event, { sandbox: deps.sandbox });
    if (verdict.kind === 'drop') return { kind: 'skipped', reason: `dropped by transformer ${verdict.by}` };
    // a transformer that fails at delivery fails the attempt, which is retried
    if (verdict.kind === 'reject') return { kind: 'retry', error: verdict.detail };
    event = verdict.event;
  }
  const actionConfig = await openSecrets(deps.encryptionKey, pluginType(delivery.action_type), delivery.action_config);
  const action = instance<ActionPlugin>('action', delivery.action_type, actionConfig, delivery.action_plugin_id ?? delivery.action_type);
  const raw: Exchange | undefined = deps.exchange ? { request: null, response: null } : undefined;
  try {
    return await runAction(
      delivery.tenant_id,
      action,
      { event, deliveryId: delivery.id, subscriptionId: delivery.subscription_id, attempt: delivery.attempts, secrets: deps.secrets },
      createGuardedFetch({ allowlist: deps.allowlist, fetchImpl: deps.fetchImpl, exchange: raw }),
      { sandbox: deps.sandbox, email: deps.email },
    );
  } finally {
    if (deps.exchange && raw) {
      // the config's write-only values and the signing secrets never reach the record in clear
      const type = pluginType(delivery.action_type);
      const secrets = [...secretValues(actionConfig, maskSecrets(type, actionConfig)), ...deps.secrets];
      Object.assign(deps.exchange, finishExchange(raw, secrets));
    }
  }
}
