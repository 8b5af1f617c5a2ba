/**
 * Runs plugin hooks with a deadline. Policy per kind: verifiers fail closed (a throw or a timeout is
 * an `invalid_signature`), so a broken verifier can never let an unsigned request through.
 */
import type { VerifierInput, VerifierPlugin, VerifierResult } from './types';

export const HOOK_TIMEOUT_MS = 5_000;

export async function runVerifier<C>(
  plugin: VerifierPlugin<C>,
  input: Omit<VerifierInput<C>, 'signal'>,
  timeoutMs = HOOK_TIMEOUT_MS,
): Promise<VerifierResult> {
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<VerifierResult>((resolve) => {
    timer = setTimeout(() => {
      controller.abort();
      resolve({ ok: false, code: 'invalid_signature', detail: `verifier ${plugin.id} timed out after ${timeoutMs} ms` });
    }, timeoutMs);
  });
  try {
    return await Promise.race([plugin.verify({ ...input, signal: controller.signal }), deadline]);
  } catch (error) {
    console.warn(JSON.stringify({ msg: 'verifier failed', plugin: plugin.id, error: String(error) }));
    return { ok: false, code: 'invalid_signature', detail: `verifier ${plugin.id} could not check the signature` };
  } finally {
    clearTimeout(timer ?? null);
  }
}
