// Optional secrets, which wrangler.toml cannot declare (so `wrangler types` cannot see them); the
// optional vars are declared in wrangler.toml `[vars]`. src/config.ts parses both.
interface SwitchyardOptionalSecrets {
  /** Upstash Redis REST endpoint for rate limits and the shared config cache; unset: Durable Object fallback. */
  UPSTASH_REDIS_REST_URL?: string;
  /** Its token. */
  UPSTASH_REDIS_REST_TOKEN?: string;
  /** Headers of the OTLP span export (`authorization=Bearer%20…,x-team=ops`); often an API key. */
  OTEL_EXPORTER_OTLP_HEADERS?: string;
}
// Optional bindings, commented out in wrangler.toml (an account must enable them first).
interface SwitchyardOptionalBindings {
  /** Cloudflare Email Service (`[[send_email]] name = "SEND_EMAIL"`): the `email` action's `cloudflare` provider. */
  SEND_EMAIL?: SendEmail;
}
interface Env extends SwitchyardOptionalSecrets, SwitchyardOptionalBindings {}
declare namespace Cloudflare {
  interface Env extends SwitchyardOptionalSecrets, SwitchyardOptionalBindings {}
}
