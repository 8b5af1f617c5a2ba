/**
 * Runs plugin hooks under a deadline and applies each kind's failure policy (see types.ts): a hook
 * that throws or overruns never escapes as an exception; it becomes the outcome its kind prescribes.
 */
import type {
  ActionContext,
  ActionInput,
  ActionOutcome,
  ActionPlugin,
  EmailSender,
  FieldProblem,
  HookContext,
  PluginEvent,
  PluginLogger,
  RequestBudget,
  ScriptSandbox,
  TransformerPlugin,
  ValidatorPlugin,
  VerifierInput,
  VerifierPlugin,
  VerifierResult,
} from './types';

export const HOOK_TIMEOUT_MS = 5_000;

type Settled<T> = { ok: true; value: T } | { ok: false; error: string };

async function withDeadline<T>(label: string, timeoutMs: number, run: (signal: AbortSignal) => Promise<T>): Promise<Settled<T>> {
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<Settled<T>>((resolve) => {
    timer = setTimeout(() => {
      controller.abort();
      resolve({ ok: false, error: `${label} timed out after ${timeoutMs} ms` });
    }, timeoutMs);
  });
  try {
    return await Promise.race([run(controller.signal).then((value): Settled<T> => ({ ok: true, value })), deadline]);
  } catch (error) {
    return { ok: false, error: `${label} failed: ${error instanceof Error ? error.message : String(error)}` };
  } finally {
    clearTimeout(timer ?? null);
  }
}

/** A hook that makes no I/O, settled without a deadline: only its throw is caught. */
async function settleNow<T>(label: string, run: () => Promise<T>): Promise<Settled<T>> {
  try {
    return { ok: true, value: await run() };
  } catch (error) {
    return { ok: false, error: `${label} failed: ${error instanceof Error ? error.message : String(error)}` };
  }
}

export function pluginLogger(fields: Record<string, unknown>): PluginLogger {
  const write = (level: string, message: string, extra?: Record<string, unknown>) => console.log(JSON.stringify({ level, msg: message, ...fields, ...extra }));
  return { info: (m, f) => write('info', m, f), warn: (m, f) => write('warn', m, f) };
}

/**
 * The most secrets a signature is checked against: every rotation within a grace period keeps the
 * earlier secrets alive, and each one costs an HMAC over the whole body on the shared event loop.
 */
export const MAX_ACTIVE_SECRETS = 5;

/** What a verifier is run with; `fetch` is the caller's `VerifierFetch` (the edge builds it with `verifierFetch`). */
export type VerifierRun<C> = Omit<VerifierInput<C>, 'signal'>;

/** Verifiers fail closed: a throw or timeout is an `invalid_signature`. Only the newest `MAX_ACTIVE_SECRETS` secrets verify. */
export async function runVerifier<C>(plugin: VerifierPlugin<C>, input: VerifierRun<C>, timeoutMs = HOOK_TIMEOUT_MS): Promise<VerifierResult> {
  const secrets = input.secrets.slice(0, MAX_ACTIVE_SECRETS);
  const settled = plugin.computeOnly
    ? await settleNow(`verifier ${plugin.id}`, () => plugin.verify({ ...input, secrets, signal: new AbortController().signal }))
    : await withDeadline(`verifier ${plugin.id}`, timeoutMs, (signal) => plugin.verify({ ...input, secrets, signal }));
  if (settled.ok) return settled.value;
  console.warn(JSON.stringify({ msg: 'verifier failed', plugin: plugin.id, error: settled.error }));
  return { ok: false, code: 'invalid_signature', detail: `verifier ${plugin.id} could not check the signature` };
}

export interface Instance<P> {
  id: string;
  name: string;
  plugin: P;
  config: unknown;
  eventTypes: string[];
  /** Set when the instance cannot run (type gone, stored config invalid): it then fails per its kind's policy. */
  unavailable?: string;
}

export type HookVerdict =
  | { kind: 'pass'; event: PluginEvent }
  | { kind: 'drop'; by: string }
  | { kind: 'reject'; code: 'validator_rejected' | 'validator_failed' | 'transformer_failed'; detail: string; errors?: FieldProblem[] };

/** Per run: the deadline (the kind's default when absent) and the sandbox, where the runtime has one. */
export interface HookOptions {
  timeoutMs?: number;
  sandbox?: ScriptSandbox;
  /** Shared by the events of one ingest request (see `RequestBudget`). */
  budget?: RequestBudget;
  /** Actions only: the `send_email` binding, where the deployment has one (`ActionContext.email`). */
  email?: EmailSender;
}

function context<C>(tenantId: string, instance: Instance<unknown>, signal: AbortSignal, sandbox?: ScriptSandbox, budget?: RequestBudget): HookContext<C> {
  // only types that run tenant code get the sandbox
  const lend = sandbox && (instance.plugin as { sandboxed?: boolean } | undefined)?.sandboxed;
  return {
    tenantId,
    config: instance.config as C,
    signal,
    log: pluginLogger({ tenantId, plugin: instance.id, name: instance.name }),
    ...(lend ? { sandbox } : {}),
    ...(budget ? { budget } : {}),
  };
}

/** Validators fail closed: a throw or timeout rejects the event (`validator_failed`). */
export async function runValidator(
  tenantId: string,
  instance: Instance<ValidatorPlugin>,
  event: PluginEvent,
  { timeoutMs = HOOK_TIMEOUT_MS, sandbox, budget }: HookOptions = {},
): Promise<HookVerdict> {
  if (instance.unavailable) return { kind: 'reject', code: 'validator_failed', detail: instance.unavailable };
  const settled = await withDeadline(`validator ${instance.name}`, timeoutMs, (signal) =>
    instance.plugin.validate(event, context(tenantId, instance, signal, sandbox, budget)),
  );
  if (!settled.ok) return { kind: 'reject', code: 'validator_failed', detail: settled.error };
  if (settled.value.ok) return { kind: 'pass', event };
  return { kind: 'reject', code: 'validator_rejected', detail: `rejected by validator ${instance.name}`, errors: settled.value.errors };
}

/** Transformers fail closed too: an event is never stored or sent without the transformation it asked for. */
export async function runTransformer(
  tenantId: string,
  instance: Instance<TransformerPlugin>,
  event: PluginEvent,
  { timeoutMs = HOOK_TIMEOUT_MS, sandbox }: HookOptions = {},
): Promise<HookVerdict> {
  if (instance.unavailable) return { kind: 'reject', code: 'transformer_failed', detail: instance.unavailable };
  const settled = await withDeadline(`transformer ${instance.name}`, timeoutMs, (signal) =>
    instance.plugin.transform(event, context(tenantId, instance, signal, sandbox)),
  );
  if (!settled.ok) return { kind: 'reject', code: 'transformer_failed', detail: settled.error };
  const next = settled.value;
  if (next === null) return { kind: 'drop', by: instance.name };
  if (next.id !== event.id || next.source !== event.source || next.specversion !== '1.0') {
    return { kind: 'reject', code: 'transformer_failed', detail: `transformer ${instance.name} changed id, source or specversion` };
  }
  return { kind: 'pass', event: next };
}

/** Actions get their own, longer deadline: a webhook may legitimately take its full 15 s. */
export const ACTION_TIMEOUT_MS = 20_000;

/** Actions: a throw or timeout is a retryable failure of this attempt. */
export async function runAction(
  tenantId: string,
  instance: Instance<ActionPlugin>,
  input: ActionInput,
  fetch: ActionContext<unknown>['fetch'],
  { timeoutMs = ACTION_TIMEOUT_MS, sandbox, email }: HookOptions = {},
): Promise<ActionOutcome> {
  if (instance.unavailable) return { kind: 'rejected', error: instance.unavailable };
  const settled = await withDeadline(`action ${instance.name}`, timeoutMs, (signal) =>
    instance.plugin.execute(input, { ...context(tenantId, instance, signal, sandbox), fetch, ...(email ? { email } : {}) }),
  );
  return settled.ok ? settled.value : { kind: 'retry', error: settled.error };
}
