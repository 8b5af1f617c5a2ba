// Secrets are not in wrangler.toml, so `wrangler types` cannot see them; declared here instead.
interface SwitchyardSecrets {
  ADMIN_JWT_SECRET: string;
  ENCRYPTION_KEY: string;
  DATABASE_URL: string;
  /** Local development and tests only: `host:port/v2` of the WebSocket-to-TCP proxy. */
  NEON_WS_PROXY?: string;
  /** Comma-separated host:port pairs deliveries may reach although they are local (tests, local runs). */
  EGRESS_ALLOWLIST?: string;
  /** Multiplies retry delays; 1 (or unset) in production. */
  RETRY_SCALE?: string;
}
interface Env extends SwitchyardSecrets {}
declare namespace Cloudflare {
  interface Env extends SwitchyardSecrets {}
}
