/**
 * The sandbox provider for one request or queue batch, from the Worker's own bindings: the Worker
 * Loader for isolates and this Worker's `ScriptEgress` entrypoint (via `ctx.exports`) for actions.
 * `undefined` when the deployment has no `LOADER` binding.
 */
import { createSandboxes, type SandboxProvider } from './sandbox';

export { createSandboxes, type SandboxProvider } from './sandbox';

export function requestSandboxes(env: Partial<Pick<Env, 'LOADER'>>, ctx: { exports?: unknown }): SandboxProvider | undefined {
  const exports = ctx.exports as Partial<Cloudflare.Exports> | undefined;
  const egress = exports?.ScriptEgress;
  return createSandboxes(env.LOADER, egress ? (props) => egress({ props }) : undefined);
}
