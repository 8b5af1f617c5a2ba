import type { Context } from 'hono';
import { problem, ProblemError } from '../lib/problem';
import { configOf } from '../config';
import { verifierEgressRefusal } from '../delivery/verifier-egress';
import { checkPluginConfig } from '../plugins/config-check';
import { requestSandboxes } from '../sandbox';
import { changedDestinations, keepStoredSecrets, openSecrets, sealSecrets } from '../plugins/secret-fields';
import { SECRET_MARKER, type PluginType } from '../plugins/types';
import type { AppEnv } from './context';
import { parsePluginConfig } from './plugin-config';

/**
 * Runs a type's registration-time checks (a script must parse and export its function) or ends the
 * request: 422 `invalid_plugin_config` with the position, or 501 `sandbox_unavailable` when a
 * sandboxed type meets a deployment without the Worker Loader binding.
 */
export async function checkConfigOrThrow(c: Context<AppEnv>, tenantId: string, type: PluginType, config: unknown, pointer: string): Promise<void> {
  const sandbox = type.sandboxed ? requestSandboxes(c.env, c.executionCtx)?.(tenantId) : undefined;
  const allowlist = configOf(c.env).egressAllowlist;
  const verdict = await checkPluginConfig(type, config, { tenantId, sandbox, pointer, egressRefusal: (url) => verifierEgressRefusal(url, allowlist) });
  if (verdict.ok) return;
  throw new ProblemError(problem(verdict.status, verdict.code, verdict.detail, verdict.status === 422 ? { errors: verdict.errors } : {}));
}

/**
 * The type's zod schema, then its registration-time checks: the one way routes accept a plugin config.
 * `stored` is the config being replaced, as stored: a `SECRET_MARKER` in `config` keeps its secret
 * (see `secret` in plugins/types.ts). Returns the config in plain text; seal it to store it.
 */
export async function acceptPluginConfig(
  c: Context<AppEnv>,
  tenantId: string,
  type: PluginType,
  config: unknown,
  pointer: string,
  stored?: unknown,
): Promise<unknown> {
  const kept = keepStoredSecrets(type, config, stored === undefined ? undefined : await openSecrets(c.env.ENCRYPTION_KEY, type, stored));
  if (kept.problems.length > 0) {
    const errors = kept.problems.map((p) => ({ ...p, pointer: `${pointer}${p.pointer}` }));
    throw new ProblemError(problem(422, 'invalid_plugin_config', `the ${type.id} config is invalid: ${errors[0]!.pointer} ${errors[0]!.detail}`, { errors }));
  }
  const parsed = parsePluginConfig(type, kept.config, pointer);
  // a kept secret follows the config only to where it was going: a new URL needs the secrets sent again
  const moved = kept.kept.length > 0 ? changedDestinations(type, parsed, stored) : [];
  if (moved.length > 0) {
    const errors = kept.kept.map((at) => ({
      pointer: `${pointer}${at}`,
      detail: `${pointer}${moved[0]} changed, so "${SECRET_MARKER}" cannot keep the stored secret; send its value again`,
    }));
    throw new ProblemError(problem(422, 'secret_required', `changing ${pointer}${moved[0]} needs the secrets sent again: ${errors[0]!.pointer}`, { errors }));
  }
  await checkConfigOrThrow(c, tenantId, type, parsed, pointer);
  return parsed;
}

/** A config accepted by `acceptPluginConfig`, with its secret fields sealed for storage. */
export function sealPluginConfig(c: Context<AppEnv>, type: PluginType | undefined, config: unknown): Promise<unknown> {
  return sealSecrets(c.env.ENCRYPTION_KEY, type, config);
}
