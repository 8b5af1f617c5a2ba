/**
 * The plugin contract. Built-in plugins in `plugins/<id>/` import only this file (and zod/jose).
 *
 * Rules that are not obvious from the types:
 * - A plugin *type* is stateless; per-tenant settings arrive as `config`, already parsed by the
 *   type's `config` schema. Secrets (signing keys) arrive decrypted in `secrets`, newest first.
 * - Verifiers fail closed: any thrown error or timeout counts as `invalid_signature`.
 * - Hooks must not keep references to the request after they return.
 */
import type { z } from 'zod';

export type PluginKind = 'verifier' | 'validator' | 'transformer' | 'action';

export const PLUGIN_API_VERSION = 1;

export interface VerifierInput<Config> {
  headers: Headers;
  /** The raw request body, exactly as received. */
  body: Uint8Array<ArrayBuffer>;
  config: Config;
  secrets: readonly string[];
  /** Unix milliseconds, injectable for tests. */
  now: number;
  signal: AbortSignal;
}

export type VerifierFailureCode = 'missing_signature' | 'invalid_signature' | 'stale_signature';

export type VerifierResult =
  | { ok: true; /** which signature scheme matched, for logs */ scheme: string }
  | { ok: false; code: VerifierFailureCode; detail: string };

/** What a verifier type hands back when a source is created: secrets to store and config to keep. */
export interface VerifierProvision<Config> {
  config: Config;
  /** New secrets to store encrypted; the first is returned to the caller once. */
  secrets: string[];
}

export interface VerifierPlugin<Config = unknown> {
  id: string;
  kind: 'verifier';
  apiVersion: typeof PLUGIN_API_VERSION;
  description: string;
  config: z.ZodType<Config>;
  /** Creates the secret material a new source needs (for example a `whsec_` secret). */
  provision(config: Config): Promise<VerifierProvision<Config>>;
  verify(input: VerifierInput<Config>): Promise<VerifierResult>;
}
