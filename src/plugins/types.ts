/**
 * The plugin contract. A built-in plugin lives in `plugins/<id>/` and imports only this file, the kit
 * (`src/plugins/kit`: encoding, the outbound signer, response classification, templates, the POST
 * helper), zod, jose and `@cfworker/json-schema`; `npm run lint:deps` enforces it. To add one, write
 * `plugins/<id>/index.ts` exporting a type below and list it in `plugins/index.ts`: that is the whole
 * registration (the catalog, the API's validation and the runner find it there).
 *
 * A plugin *type* (this interface) is stateless code; a tenant registers *instances* of it with a
 * config that the type's `config` schema parses. Rules that the types cannot say:
 * - Hooks get a narrow context: the tenant id, the parsed config, a logger and an abort signal. No
 *   bindings, no database, no global state worth keeping (isolates come and go). The one capability
 *   beyond that is `sandbox` (tenant code in isolates), lent by the runtime where the Worker Loader
 *   binding exists; the runner lends it only to types marked `sandboxed`. Actions also get `fetch`.
 * - Deadlines, enforced by the runner (src/plugins/runner.ts); `ctx.signal` aborts when one passes:
 *   verifier, validator, transformer  5 s (`HOOK_TIMEOUT_MS`), at ingest and at delivery alike
 *   action                            20 s (`ACTION_TIMEOUT_MS`); each `ctx.fetch` within it stops at 15 s
 *   `checkConfig`                     10 s (`CHECK_TIMEOUT_MS`), whenever an instance's config is set
 * - Failure policy per kind, enforced by the runner, never by the plugin:
 *   verifier    fails closed: a throw or timeout is `invalid_signature` (401).
 *   validator   fails closed: a throw or timeout rejects the event (422 `validator_failed`).
 *   transformer fails closed: at ingest the event is rejected (422 `transformer_failed`); at delivery
 *               the attempt fails and is retried. A transformer never lets an unredacted event through.
 *   action      a throw or timeout is a retryable attempt failure (`retry`); an instance whose type is
 *               gone or whose stored config no longer parses is `rejected`. Expected outcomes are
 *               returned (`ActionOutcome`), not thrown.
 * - A type has exactly one kind. Code that serves several kinds is registered once per kind under
 *   its own id: the script plugin is `script-validator`, `script-transformer` and `script-action`.
 * - Events handed to hooks are plain structured-clone-safe CloudEvent objects; a hook must not keep
 *   references to them after it returns.
 */
import type { RequestBudget } from '../lib/request-budget';
import type { z } from 'zod';

export type PluginKind = 'verifier' | 'validator' | 'transformer' | 'action';

export const PLUGIN_API_VERSION = 1;

/** A CloudEvent 1.0 object: required attributes plus optional ones and extensions. */
export interface PluginEvent {
  specversion: '1.0';
  id: string;
  source: string;
  type: string;
  subject?: string;
  time?: string;
  datacontenttype?: string;
  dataschema?: string;
  data?: unknown;
  data_base64?: string;
  [extension: string]: unknown;
}

export interface FieldProblem {
  /** JSON pointer into the event, e.g. `/data/amount`. */
  pointer: string;
  detail: string;
}

export interface PluginLogger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
}

// what all the hooks of one ingest request may still spend together (`HookContext.budget`)
export { REQUEST_EVALUATION_BUDGET, requestBudget, type RequestBudget } from '../lib/request-budget';

export interface HookContext<Config> {
  tenantId: string;
  config: Config;
  log: PluginLogger;
  signal: AbortSignal;
  budget?: RequestBudget;
  /** Present for `sandboxed` types where the runtime can run tenant code (`LOADER`); bound to `tenantId`. */
  sandbox?: ScriptSandbox;
}

// ---- tenant code ---------------------------------------------------------------------------------

export type ScriptFunction = 'validate' | 'transform' | 'handle';

/** A problem in a tenant's script; `line` and `column` (1-based) point into the source as given. */
export interface ScriptProblem extends FieldProblem {
  line?: number;
  column?: number;
}

export type ScriptInspection = { ok: true; exports: Record<ScriptFunction, string> } | { ok: false; stage: 'parse' | 'load'; problem: ScriptProblem };

export interface ScriptCallOptions {
  signal?: AbortSignal;
  /** Wall-clock limit of this call, within the hook's own deadline. */
  timeoutMs?: number;
  /** `handle` only: hosts (`host` or `host:port`) that the script's `ctx.fetch` may reach. */
  allowedHosts?: readonly string[];
}

/**
 * Runs tenant-supplied ES modules, each in a V8 isolate of its own (Worker Loader), with no global
 * network. Rules the types cannot say:
 * - Isolates are keyed by tenant and by the module's content: module state is shared by calls of one
 *   tenant's identical source, and never visible to another tenant, whatever the source.
 * - `call` passes structured-clone-safe `args` and resolves with the JSON value the function returned
 *   (`undefined` stays `undefined`). It rejects when the script throws, exceeds its CPU budget, runs
 *   past `timeoutMs` or the signal, or returns something that is not JSON or is over the size cap; the
 *   message says which. For `handle`, the sandbox adds `fetch` to the second argument: it reaches
 *   `allowedHosts` only, through the same SSRF guard as webhooks, and rejects with `EgressRefused: …`.
 * - `inspect` parses, then evaluates the module and reports `typeof` of each of its functions, or the
 *   first problem with its position; it does not call them.
 */
export interface ScriptSandbox {
  inspect(source: string): Promise<ScriptInspection>;
  call(source: string, fn: ScriptFunction, args: readonly unknown[], options?: ScriptCallOptions): Promise<unknown>;
}

/** What registration-time checks get (see `PluginTypeBase.checkConfig`). */
export interface ConfigCheckContext {
  tenantId: string;
  sandbox?: ScriptSandbox;
  signal: AbortSignal;
  /** Why a verifier's `fetch` would refuse this URL (see `VerifierFetch`), or null when it may be reached. */
  egressRefusal(url: string): string | null;
}

interface PluginTypeBase<Kind extends PluginKind, Config> {
  /** Kebab-case, unique across kinds: `standard-webhooks`, `json-schema`, `redact`. */
  id: string;
  kind: Kind;
  apiVersion: typeof PLUGIN_API_VERSION;
  description: string;
  config: z.ZodType<Config>;
  /** Runs tenant code: without a sandbox the runtime refuses to register it (501 `sandbox_unavailable`). */
  sandboxed?: true;
  /**
   * Checks the zod schema cannot make, run after it whenever an instance's config is set (e.g. that a
   * script parses and exports its function). Returns problems with pointers relative to the config
   * (`/source`); none means the config is accepted. A sandboxed type always gets a sandbox here.
   */
  checkConfig?(config: Config, ctx: ConfigCheckContext): Promise<FieldProblem[]>;
}

// ---- verifiers -----------------------------------------------------------------------------------

/**
 * The only network a verifier has (a JWKS, say): the webhooks' SSRF guard, HTTPS only unless
 * `EGRESS_ALLOWLIST` names the `host:port`, no redirects, 3 s per fetch and at most 64 KiB of body
 * (src/delivery/verifier-egress.ts). A refused destination rejects with an error named `EgressRefused`. Verifiers must not tell callers
 * why a fetch failed (that would let them probe ports); they say only that the keys could not be had.
 */
export type VerifierFetch = (url: string, init?: RequestInit) => Promise<Response>;

/**
 * Rules for verifiers that the types cannot say:
 * - Cheap checks come first: header presence, syntax, counts and the timestamp window are judged
 *   before any cryptography, so a malformed or stale request costs no HMAC over the body.
 * - A header holding several signatures is capped (`MAX_SIGNATURES`, and a few KB); over the cap is
 *   `invalid_signature` without any cryptography. A MAC is computed once per secret and compared with
 *   each candidate in constant time, never once per (secret, candidate) pair.
 */
export interface VerifierInput<Config> {
  headers: Headers;
  /** The raw request body, exactly as received. */
  body: Uint8Array<ArrayBuffer>;
  config: Config;
  /** Decrypted signing secrets of the source, newest first (several during a rotation; the runner passes at most `MAX_ACTIVE_SECRETS`). */
  secrets: readonly string[];
  /** Unix milliseconds, injectable for tests. */
  now: number;
  signal: AbortSignal;
  fetch: VerifierFetch;
}

/** The most signatures one header may carry (rotation needs two or three). */
export const MAX_SIGNATURES = 10;
/** The longest signature header accepted, in characters. */
export const MAX_SIGNATURE_HEADER = 4096;

export type VerifierFailureCode = 'missing_signature' | 'invalid_signature' | 'stale_signature';

export type VerifierResult =
  | {
      ok: true;
      /** Which signature scheme matched, for logs. */
      scheme: string;
      /**
       * What the signature vouches for beyond the body bytes: the event id it covers, when the scheme
       * signs one (Standard Webhooks' `webhook-id`). Binary mode takes every attribute but `data` from
       * `ce-*` headers, which no scheme here signs; the pipeline accepts it only when this is set and
       * equals the event's `ce-id` (else 422 `unsigned_attributes`). The id being signed is what makes a
       * replay with a changed `ce-type` or `ce-subject` an `idempotency_conflict` instead of a new event.
       * Leave it unset when the scheme covers the body only (structured and batch mode carry every
       * attribute in the body, so they are covered whole).
       */
      signedId?: string;
      /**
       * Provider verifiers (GitHub, Stripe, …) wrap the provider's payload into a CloudEvent here;
       * its `id` must be the provider's delivery id so provider retries deduplicate. When absent, the
       * body is read as a CloudEvent (structured, batch or binary mode). Attributes taken from headers
       * the provider does not sign (GitHub's event name and delivery id, say) are only as trustworthy
       * as the provider's scheme makes them; the signed body is the authority.
       */
      event?: PluginEvent;
    }
  | { ok: false; code: VerifierFailureCode; detail: string };

/** What a verifier type hands back when a source is created: secrets to store and config to keep. */
export interface VerifierProvision<Config> {
  config: Config;
  /** Secrets to store encrypted; the first is shown to the caller once. */
  secrets: string[];
}

export interface VerifierPlugin<Config = unknown> extends PluginTypeBase<'verifier', Config> {
  /**
   * Creates the secret material a new source needs. `supplied` is a secret the caller brought (for
   * example the signing secret GitHub or Stripe shows); a type that needs one and gets none makes one.
   */
  provision(config: Config, supplied?: string): Promise<VerifierProvision<Config>>;
  verify(input: VerifierInput<Config>): Promise<VerifierResult>;
  /**
   * `verify` makes no I/O: it only hashes and checks signatures with WebCrypto, which workerd runs on
   * the calling thread. It then runs without the hook deadline, whose timer would cost every ingest
   * request and could not interrupt CPU work anyway. A type that may fetch (a JWKS) leaves this unset.
   */
  computeOnly?: true;
}

// ---- validators and transformers -----------------------------------------------------------------

export type ValidationResult = { ok: true } | { ok: false; errors: FieldProblem[] };

export interface ValidatorPlugin<Config = unknown> extends PluginTypeBase<'validator', Config> {
  validate(event: PluginEvent, ctx: HookContext<Config>): Promise<ValidationResult>;
}

export interface TransformerPlugin<Config = unknown> extends PluginTypeBase<'transformer', Config> {
  /** Returns the (possibly new) event, or `null` to drop it. Must not change `id` or `source`. */
  transform(event: PluginEvent, ctx: HookContext<Config>): Promise<PluginEvent | null>;
}

// ---- actions ------------------------------------------------------------------------------------

/**
 * One attempt of one delivery. Delivery is at-least-once: a queue message can be redelivered and an
 * attempt can run again after a crash or a lost answer, so the same `deliveryId` may reach `execute`
 * more than once, even after a `delivered`. `deliveryId` is the idempotency key: send it to the
 * destination (the webhook action sends it as `webhook-id`) or deduplicate on it.
 */
export interface ActionInput {
  event: PluginEvent;
  /** Stable across retries and redeliveries of this delivery; the idempotency key. */
  deliveryId: string;
  subscriptionId: string;
  /** 1 for the first attempt. */
  attempt: number;
  /** The subscription's signing secrets, newest first (several while a rotation's grace period runs). */
  secrets: readonly string[];
}

export type ActionOutcome =
  | { kind: 'delivered'; status?: number; responseBody?: string }
  | { kind: 'retry'; status?: number; error: string; responseBody?: string; retryAfterSeconds?: number }
  /** The destination says it is gone for good (HTTP 410): the subscription is disabled. */
  | { kind: 'gone'; status?: number; error: string }
  /** Permanent failure that no retry will fix (refused destination, 4xx other than 408/409/425/429). */
  | { kind: 'rejected'; status?: number; error: string; responseBody?: string };

export interface ActionContext<Config> extends HookContext<Config> {
  /**
   * The only network an action has (src/delivery/guarded-fetch.ts); the global `fetch` must not be
   * used. What it does, whatever `init` says:
   * - The SSRF guard checks the URL first: http(s) only, no credentials, no private, loopback,
   *   link-local or metadata address, no internal-only name. The deployment's `EGRESS_ALLOWLIST`
   *   (for local testing) may lift the address checks for exact `host:port` pairs; there is no
   *   per-instance allow-list (the script action's `allowed_hosts` is enforced by its sandbox).
   *   A refusal rejects with an error whose `name` is `EgressRefused`: permanent, so `rejected`.
   * - Redirects are never followed: a 3xx comes back as the response (`classifyResponse` makes it
   *   `rejected`).
   * - 15 s for the whole exchange, body included; past it the promise rejects with a `TimeoutError`.
   *   `init.signal` (say, `ctx.signal`) still aborts as usual.
   * - At most 1 KiB of the response body is kept; the returned Response holds only those bytes.
   * The kit's `postAndClassify` wraps all this into an `ActionOutcome`; most actions need nothing else.
   */
  fetch(url: string, init?: RequestInit): Promise<Response>;
  /**
   * Cloudflare Email Service, present where the deployment binds `send_email` as `SEND_EMAIL`
   * (wrangler.toml). It sends through Cloudflare, not the network, so the SSRF guard does not apply;
   * a refusal rejects with an `Error` whose `code` says why (`E_RATE_LIMIT_EXCEEDED`, …).
   */
  email?: EmailSender;
}

/** An email for {@link EmailSender}: the structured form of the `send_email` binding (no raw MIME). */
export interface OutboundEmail {
  from: string | { email: string; name: string };
  to: string[];
  cc?: string[];
  bcc?: string[];
  replyTo?: string;
  subject: string;
  text?: string;
  html?: string;
}

export interface EmailSender {
  send(message: OutboundEmail): Promise<{ messageId: string }>;
}

export interface ActionPlugin<Config = unknown> extends PluginTypeBase<'action', Config> {
  execute(input: ActionInput, ctx: ActionContext<Config>): Promise<ActionOutcome>;
}

export type PluginType = VerifierPlugin | ValidatorPlugin | TransformerPlugin | ActionPlugin;

// ---- write-only secrets (config fields the API never returns) -------------------------------------

/** What every read of a config shows in place of a secret value; sending it back keeps the stored value. */
export const SECRET_MARKER = '********';

/**
 * Marks a string field of an action type's config as a secret (an endpoint's token, a chat webhook
 * URL). Wrap the innermost string schema: `secret(z.string().max(4096))`; as the value schema of a
 * record it makes every value secret while the keys (header names, say) stay readable. Rules:
 * - The catalog (`GET /v1/plugins`) shows the field as `writeOnly: true`.
 * - The runtime seals the value with `ENCRYPTION_KEY` before it is stored (src/plugins/secret-fields.ts)
 *   and never returns it: every read shows `SECRET_MARKER`. Hooks always get the real value in
 *   `ctx.config`, and must not echo it into outcomes, errors or logs.
 * - Setting a config replaces it whole, as before; a value equal to `SECRET_MARKER` at a secret path
 *   keeps the value stored at the same path (so a read, edit, write round trip keeps secrets), and is
 *   a 422 where nothing is stored. Leaving the field out removes it.
 * - Only action types may declare secrets: a verifier's credentials are its `secrets` (see
 *   `VerifierProvision`), and validators and transformers have no network to spend them on.
 */
export function secret<S extends z.ZodType<string>>(schema: S): S {
  return schema.meta({ writeOnly: true });
}
