// Optional vars that wrangler.toml does not declare (so `wrangler types` cannot see them).
interface SwitchyardOptionalVars {
  /** Local development and tests only: `host:port/v2` of the WebSocket-to-TCP proxy. */
  NEON_WS_PROXY?: string;
  /** Comma-separated host:port pairs deliveries may reach although they are local (tests, local runs). */
  EGRESS_ALLOWLIST?: string;
  /** Multiplies retry delays; 1 (or unset) in production. */
  RETRY_SCALE?: string;
  /** Upstash Redis REST endpoint for rate limits and the shared config cache; unset: Durable Object fallback. */
  UPSTASH_REDIS_REST_URL?: string;
  /** Its token (a secret). */
  UPSTASH_REDIS_REST_TOKEN?: string;
  /** Seconds a pending delivery may go untouched past its due time before the redrive sweep sends it again (default 300). */
  REDRIVE_AFTER_SECONDS?: string;
  /** Deadline of one Redis call in ms (default 250); past it the fallback answers. */
  REDIS_TIMEOUT_MS?: string;
  /** JWKS of an external identity provider whose tokens with the `admin` scope are admin tokens. */
  AUTH_JWKS_URL?: string;
  /** Required `iss` of those tokens, when set. */
  AUTH_JWKS_ISSUER?: string;
  /** Required `aud` of those tokens, when set. */
  AUTH_JWKS_AUDIENCE?: string;
}
interface Env extends SwitchyardOptionalVars {}
declare namespace Cloudflare {
  interface Env extends SwitchyardOptionalVars {}
}
