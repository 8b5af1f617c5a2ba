import type { Context } from 'hono';
import { problem, ProblemError } from '../ingest/problem';
import { parseAllowlist } from '../delivery/ssrf-guard';
import { checkPluginConfig } from '../plugins/config-check';
import { requestSandboxes } from '../plugins/sandbox';
import type { PluginType } from '../plugins/types';
import type { AppEnv } from './context';
import { parsePluginConfig } from './plugin-config';

/**
 * Runs a type's registration-time checks (a script must parse and export its function) or ends the
 * request: 422 `invalid_plugin_config` with the position, or 501 `sandbox_unavailable` when a
 * sandboxed type meets a deployment without the Worker Loader binding.
 */
export async function checkConfigOrThrow(c: Context<AppEnv>, tenantId: string, type: PluginType, config: unknown, pointer: string): Promise<void> {
  const sandbox = type.sandboxed ? requestSandboxes(c.env, c.executionCtx)?.(tenantId) : undefined;
  const verdict = await checkPluginConfig(type, config, { tenantId, sandbox, pointer, allowlist: parseAllowlist(c.env.EGRESS_ALLOWLIST) });
  if (verdict.ok) return;
  throw new ProblemError(problem(verdict.status, verdict.code, verdict.detail, verdict.status === 422 ? { errors: verdict.errors } : {}));
}

/** The type's zod schema, then its registration-time checks: the one way routes accept a plugin config. */
export async function acceptPluginConfig(c: Context<AppEnv>, tenantId: string, type: PluginType, config: unknown, pointer: string): Promise<unknown> {
  const parsed = parsePluginConfig(type, config, pointer);
  await checkConfigOrThrow(c, tenantId, type, parsed, pointer);
  return parsed;
}
