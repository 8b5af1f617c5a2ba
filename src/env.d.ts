// Optional vars that wrangler.toml does not declare (so `wrangler types` cannot see them).
interface SwitchyardOptionalVars {
  /** Local development and tests only: `host:port/v2` of the WebSocket-to-TCP proxy. */
  NEON_WS_PROXY?: string;
  /** Comma-separated host:port pairs deliveries may reach although they are local (tests, local runs). */
  EGRESS_ALLOWLIST?: string;
  /** Multiplies retry delays; 1 (or unset) in production. */
  RETRY_SCALE?: string;
}
interface Env extends SwitchyardOptionalVars {}
declare namespace Cloudflare {
  interface Env extends SwitchyardOptionalVars {}
}
