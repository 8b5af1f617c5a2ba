/**
 * Registration-time checks of a plugin instance's config beyond its zod schema: the type's own
 * `checkConfig`, which for sandboxed types needs the script sandbox. Returns what the API should
 * answer; never throws for anything a tenant's config or script does.
 */
import type { ConfigCheckContext, FieldProblem, PluginType, ScriptSandbox } from './types';

export const CHECK_TIMEOUT_MS = 10_000;

export type ConfigVerdict =
  | { ok: true }
  | { ok: false; status: 422; code: 'invalid_plugin_config'; detail: string; errors: FieldProblem[] }
  | { ok: false; status: 501; code: 'sandbox_unavailable'; detail: string };

export async function checkPluginConfig(
  type: PluginType,
  config: unknown,
  ctx: { tenantId: string; sandbox?: ScriptSandbox; pointer: string; egressRefusal: ConfigCheckContext['egressRefusal'] },
): Promise<ConfigVerdict> {
  if (type.sandboxed && !ctx.sandbox) {
    return {
      ok: false,
      status: 501,
      code: 'sandbox_unavailable',
      detail: `${type.id} runs tenant code in isolates through the Worker Loader binding, which this deployment lacks (add [[worker_loaders]] binding = "LOADER" to wrangler.toml, on an account with Worker Loader access); every other plugin type works without it`,
    };
  }
  if (!type.checkConfig) return { ok: true };
  const check = type.checkConfig as (config: unknown, c: ConfigCheckContext) => Promise<FieldProblem[]>;
  const problems = await check(config, {
    tenantId: ctx.tenantId,
    sandbox: ctx.sandbox,
    signal: AbortSignal.timeout(CHECK_TIMEOUT_MS),
    egressRefusal: ctx.egressRefusal,
  });
  if (problems.length === 0) return { ok: true };
  return {
    ok: false,
    status: 422,
    code: 'invalid_plugin_config',
    detail: `the ${type.id} config is invalid: ${problems[0]!.detail}`,
    errors: problems.map((p) => ({ ...p, pointer: `${ctx.pointer}${p.pointer}` })),
  };
}
