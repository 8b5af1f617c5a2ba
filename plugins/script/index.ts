/**
 * Tenant JavaScript as a validator, transformer or action: one implementation, three type ids (a type
 * has one kind), each running an ES module in an isolate of its own through `ctx.sandbox`.
 *
 *   script-validator    export function validate(event)     → { ok: true } | { errors: [{ pointer, detail } | string] }
 *   script-transformer  export function transform(event)    → the event (id, source, specversion unchanged) | null to drop
 *   script-action       export async function handle(event, ctx) → undefined (delivered) |
 *                         { kind: 'delivered' | 'retry' | 'rejected' | 'gone', error?, status?, retry_after_seconds? }
 *                       ctx: { deliveryId, subscriptionId, attempt, fetch } — `fetch` reaches `allowed_hosts` only.
 *
 * Functions may be async. Rules a reader would not guess:
 * - A result that is not of the shape above is the script's failure, handled by the kind's policy
 *   (validator and transformer fail closed, action retries), exactly as a throw or a timeout is.
 * - Registration parses the module and evaluates it once (see `checkConfig`): a syntax error, a throw
 *   at load or a missing export is a 422 with the position in the source.
 * - Scripts see no bindings, no network and no other module than their own; `Date.now()` only moves
 *   between I/O in production, as in any Worker.
 */
import { z } from 'zod';
import { utf8 } from '../../src/plugins/kit';
import {
  PLUGIN_API_VERSION,
  type ActionOutcome,
  type ActionPlugin,
  type FieldProblem,
  type HookContext,
  type PluginEvent,
  type ScriptFunction,
  type ScriptInspection,
  type TransformerPlugin,
  type ValidationResult,
  type ValidatorPlugin,
  type ConfigCheckContext,
} from '../../src/plugins/types';

export const MAX_SOURCE_BYTES = 64 * 1024;
const MAX_PROBLEMS = 50;
const HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)(?::\d{1,5})?$/;

const source = z
  .string()
  .min(1)
  .refine((text) => utf8(text).length <= MAX_SOURCE_BYTES, `the script may be at most ${MAX_SOURCE_BYTES / 1024} KiB`)
  .describe('the ES module source, as text');
const hookConfig = (fn: ScriptFunction) =>
  z.strictObject({
    source: source.describe(`ES module source that exports ${fn}`),
    timeout_ms: z.int().min(50).max(4_000).default(2_000).describe('wall-clock limit of one call'),
  });
const validatorConfig = hookConfig('validate');
const transformerConfig = hookConfig('transform');
const actionConfig = z.strictObject({
  source: source.describe('ES module source that exports handle(event, ctx)'),
  allowed_hosts: z
    .array(
      z
        .string()
        .regex(HOST, 'expected host or host:port, e.g. api.example.com or 127.0.0.1:9000')
        .transform((h) => h.toLowerCase()),
    )
    .max(20)
    .default([])
    .describe("hosts ctx.fetch may reach (exact host, or host:port); the webhook action's SSRF rules apply as well"),
  timeout_ms: z.int().min(50).max(19_000).default(15_000).describe('wall-clock limit of one call'),
});
type HookConfig = z.infer<typeof validatorConfig>;
type ActionConfig = z.infer<typeof actionConfig>;

function sandboxOf(ctx: HookContext<unknown>) {
  if (!ctx.sandbox) throw new Error('tenant scripts cannot run in this deployment: the Worker Loader binding (LOADER) is missing');
  return ctx.sandbox;
}

function checkScript(fn: ScriptFunction) {
  return async (config: { source: string }, ctx: ConfigCheckContext): Promise<FieldProblem[]> => {
    const inspection: ScriptInspection = await ctx.sandbox!.inspect(config.source);
    if (!inspection.ok) {
      const { problem, stage } = inspection;
      const where = problem.line === undefined ? '' : ` (line ${problem.line}, column ${problem.column})`;
      const what = stage === 'parse' ? 'the script does not parse' : 'the script failed to load';
      return [{ ...problem, pointer: '/source', detail: `${what}: ${problem.detail}${where}` }];
    }
    const found = inspection.exports[fn];
    if (found !== 'function')
      return [{ pointer: '/source', detail: `the module must export a function named ${fn} (it exports ${found === 'undefined' ? 'none' : `a ${found}`})` }];
    return [];
  };
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const shape = (value: unknown) => (value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value);

function toProblem(item: unknown): FieldProblem {
  if (typeof item === 'string') return { pointer: '', detail: item.slice(0, 500) };
  const detail = isObject(item) ? (item.detail ?? item.message) : undefined;
  const pointer = isObject(item) ? (item.pointer ?? '') : undefined;
  if (typeof detail !== 'string' || typeof pointer !== 'string' || (pointer !== '' && !pointer.startsWith('/'))) {
    throw new Error('each error must be a string or { pointer: "/json/pointer", detail: "…" }');
  }
  return { pointer: pointer.slice(0, 500), detail: detail.slice(0, 500) };
}

/** `{ ok: true }`, `{ errors: [] }`, `{ ok: false, errors: [...] }` or `{ errors: [...] }`; anything else is garbage. */
export function readValidation(value: unknown): ValidationResult {
  if (isObject(value) && (value.ok === true || value.ok === false || Array.isArray(value.errors))) {
    const errors = value.errors === undefined ? [] : value.errors;
    if (!Array.isArray(errors)) throw new Error('validate returned errors that are not an array');
    if (value.ok === true && errors.length === 0) return { ok: true };
    if (errors.length === 0) return value.ok === false ? { ok: false, errors: [{ pointer: '', detail: 'rejected by the script' }] } : { ok: true };
    return { ok: false, errors: errors.slice(0, MAX_PROBLEMS).map(toProblem) };
  }
  throw new Error(`validate must return { ok: true } or { errors: [...] }, not ${shape(value)}`);
}

const outcome = z.object({
  kind: z.enum(['delivered', 'retry', 'rejected', 'gone']),
  error: z.string().max(1000).optional(),
  status: z.int().min(100).max(599).optional(),
  retry_after_seconds: z.number().min(0).max(86_400).optional(),
});

/** `undefined` (or null) is delivered; otherwise an outcome object; anything else is garbage. */
export function readOutcome(value: unknown): ActionOutcome {
  if (value === undefined || value === null) return { kind: 'delivered' };
  const parsed = outcome.safeParse(value);
  if (!parsed.success) throw new Error(`handle must return nothing or { kind: 'delivered' | 'retry' | 'rejected' | 'gone', error? }, not ${shape(value)}`);
  const { kind, error, status, retry_after_seconds: retryAfterSeconds } = parsed.data;
  if (kind === 'delivered') return { kind, status };
  const reason = error ?? `the script answered ${kind}`;
  if (kind === 'retry') return { kind, error: reason, status, retryAfterSeconds };
  return { kind, error: reason, status };
}

export const scriptValidator: ValidatorPlugin<HookConfig> = {
  id: 'script-validator',
  kind: 'validator',
  apiVersion: PLUGIN_API_VERSION,
  description: "Runs your ES module's validate(event) in an isolate of its own; it returns { ok: true } or { errors: [{ pointer, detail }] }",
  config: validatorConfig,
  sandboxed: true,
  checkConfig: checkScript('validate'),
  async validate(event, ctx) {
    return readValidation(await sandboxOf(ctx).call(ctx.config.source, 'validate', [event], { signal: ctx.signal, timeoutMs: ctx.config.timeout_ms }));
  },
};

export const scriptTransformer: TransformerPlugin<HookConfig> = {
  id: 'script-transformer',
  kind: 'transformer',
  apiVersion: PLUGIN_API_VERSION,
  description: "Runs your ES module's transform(event) in an isolate of its own; it returns the new event, or null to drop it",
  config: transformerConfig,
  sandboxed: true,
  checkConfig: checkScript('transform'),
  async transform(event, ctx) {
    const result = await sandboxOf(ctx).call(ctx.config.source, 'transform', [event], { signal: ctx.signal, timeoutMs: ctx.config.timeout_ms });
    if (result === null) return null;
    if (!isObject(result)) throw new Error(`transform must return the event or null, not ${shape(result)}`);
    return result as PluginEvent;
  },
};

export const scriptAction: ActionPlugin<ActionConfig> = {
  id: 'script-action',
  kind: 'action',
  apiVersion: PLUGIN_API_VERSION,
  description: "Runs your ES module's handle(event, ctx) in an isolate of its own; ctx.fetch reaches only the allowed_hosts",
  config: actionConfig,
  sandboxed: true,
  checkConfig: checkScript('handle'),
  async execute(input, ctx) {
    const context = { deliveryId: input.deliveryId, subscriptionId: input.subscriptionId, attempt: input.attempt };
    const options = { signal: ctx.signal, timeoutMs: ctx.config.timeout_ms, allowedHosts: ctx.config.allowed_hosts };
    return readOutcome(await sandboxOf(ctx).call(ctx.config.source, 'handle', [input.event, context], options));
  },
};
