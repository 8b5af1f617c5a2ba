/**
 * The Worker's optional settings (wrangler.toml `[vars]` and the optional secrets of src/env.d.ts),
 * parsed once per env object. Rules:
 * - An unset or empty value (wrangler.toml declares the text ones as "") means the default.
 * - A malformed value is an error naming the setting, thrown by `configOf` on every call for that env
 *   (a request answers 500 and the error is logged): a typo must not quietly become a default, nor
 *   refuse every local delivery without a word.
 * - The result is cached per env object; an env is never changed while a Worker runs.
 */
import { z } from 'zod';

/** The settings as the platform hands them over: text, or absent. */
export type ConfigVars = Partial<Record<keyof typeof vars.shape, string>>;

const unset = (value: string | undefined) => value === undefined || value.trim() === '';

/** Text, or undefined when unset. */
const optionalText = z
  .string()
  .optional()
  .transform((value) => (unset(value) ? undefined : value?.trim()));

/** An http(s) URL, or undefined when unset. */
const optionalUrl = optionalText.pipe(z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }).optional());

/** A positive number, `fallback` when unset. */
const positiveNumber = (fallback: number, unit: string) =>
  z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (unset(value)) return fallback;
      const number = Number(value);
      if (Number.isFinite(number) && number > 0) return number;
      ctx.addIssue({ code: 'custom', message: `expected a positive number of ${unit}` });
      return z.NEVER;
    });

/** Whole days within 1..3650 (ten years), `fallback` when unset: a retention period. */
const retentionDays = (fallback: number) =>
  z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (unset(value)) return fallback;
      const number = Number(value);
      if (Number.isInteger(number) && number >= 1 && number <= 3650) return number;
      ctx.addIssue({ code: 'custom', message: 'expected whole days from 1 to 3650' });
      return z.NEVER;
    });

export interface AllowEntry {
  host: string;
  /** null: the scheme's default port. */
  port: number | null;
}

/** One `EGRESS_ALLOWLIST` entry (`host` or `host:port`, IPv6 in brackets), or null when malformed. */
export function parseAllowEntry(text: string): AllowEntry | null {
  const match = /^(\[[0-9A-Fa-f:.]+\]|[^:[\]/@\s]+)(?::(\d{1,5}))?$/.exec(text.trim());
  if (!match?.[1]) return null;
  const port = match[2] === undefined ? null : Number(match[2]);
  if (port !== null && (port < 1 || port > 65_535)) return null;
  try {
    // the same normalisation a destination URL gets, so `127.1` and `LOCALHOST` match their URLs
    return { host: new URL(`http://${match[1]}/`).hostname, port };
  } catch {
    return null;
  }
}

/**
 * Reads a comma-separated `EGRESS_ALLOWLIST` into normalised entries (`127.0.0.1:9000`,
 * `[::1]:8080`, `example.test`) for the SSRF guard (src/delivery/ssrf-guard.ts). Throws on a
 * malformed entry: a typo here should stop a deployment, not silently refuse every local delivery.
 */
export function parseAllowlist(value?: string): string[] {
  if (!value) return [];
  return value
    .split(',')
    .map((text) => text.trim())
    .filter((text) => text !== '')
    .map((text) => {
      const entry = parseAllowEntry(text);
      if (!entry) throw new Error(`EGRESS_ALLOWLIST: "${text}" is not host or host:port`);
      return entry.port === null ? entry.host : `${entry.host}:${entry.port}`;
    });
}

const allowlist = z
  .string()
  .optional()
  .transform((value, ctx) => {
    try {
      return parseAllowlist(value);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: error instanceof Error ? error.message : String(error) });
      return z.NEVER;
    }
  });

/** One CSP source expression a `frame-ancestors` list may hold (CSP3 `host-source` / `scheme-source`). */
const ANCESTOR_SOURCE =
  /^(?:'self'|\*|[a-z][a-z0-9+.-]*:|(?:[a-z][a-z0-9+.-]*:\/\/)?(?:\*\.)?[a-z0-9-]+(?:\.[a-z0-9-]+)*(?::(?:\d{1,5}|\*))?(?:\/[^\s;,'"]*)?)$/i;

/**
 * Reads `PORTAL_FRAME_ANCESTORS`, the space-separated sources allowed to frame the console
 * (`'self' https://app.example.com`), into the text of the CSP directive; `'self'` when unset.
 * Throws on anything that is not a source list: a `;`, a comma or a line break would end the
 * directive or the policy and let the value write other directives of its own.
 */
export function parseFrameAncestors(value?: string): string {
  const sources = (value ?? '').split(/[ \t]+/).filter((text) => text !== '');
  if (sources.length === 0) return "'self'";
  if (sources.length === 1 && sources[0] === "'none'") return "'none'";
  for (const source of sources) {
    if (/[;,\r\n]/.test(source)) throw new Error('PORTAL_FRAME_ANCESTORS: a source list holds no ";", "," or line break');
    if (source === "'none'") throw new Error("PORTAL_FRAME_ANCESTORS: 'none' stands alone");
    if (source.length > 512 || !ANCESTOR_SOURCE.test(source))
      throw new Error(`PORTAL_FRAME_ANCESTORS: "${source}" is not a CSP source ('self', https:, https://app.example.com, https://*.example.com:8443)`);
  }
  return sources.join(' ');
}

const frameAncestors = z
  .string()
  .optional()
  .transform((value, ctx) => {
    try {
      return parseFrameAncestors(value);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: error instanceof Error ? error.message : String(error) });
      return z.NEVER;
    }
  });

function percentDecoded(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

/**
 * Reads `OTEL_EXPORTER_OTLP_HEADERS` (the OpenTelemetry SDK format: `name=value` pairs separated by
 * commas, values percent-encoded) into headers for the OTLP exporter. Throws on a pair without a
 * name, or a name or value no HTTP header may carry.
 */
export function parseOtlpHeaders(value?: string): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const pair of (value ?? '').split(',')) {
    if (pair.trim() === '') continue;
    const at = pair.indexOf('=');
    const name = (at < 0 ? '' : pair.slice(0, at)).trim().toLowerCase();
    const text = percentDecoded(pair.slice(at + 1))?.trim();
    if (!/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(name) || text === undefined || /[\r\n\0]/.test(text))
      throw new Error('OTEL_EXPORTER_OTLP_HEADERS: expected name=value pairs separated by commas, values percent-encoded');
    headers[name] = text;
  }
  return headers;
}

const otlpHeaders = z
  .string()
  .optional()
  .transform((value, ctx) => {
    try {
      return parseOtlpHeaders(value);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: error instanceof Error ? error.message : String(error) });
      return z.NEVER;
    }
  });

const vars = z.object({
  NEON_WS_PROXY: optionalText,
  EGRESS_ALLOWLIST: allowlist,
  RETRY_SCALE: positiveNumber(1, 'times the schedule'),
  REDIS_TIMEOUT_MS: positiveNumber(250, 'milliseconds'),
  REDRIVE_AFTER_SECONDS: positiveNumber(300, 'seconds'),
  UPSTASH_REDIS_REST_URL: optionalUrl,
  UPSTASH_REDIS_REST_TOKEN: optionalText,
  AUTH_JWKS_URL: optionalUrl,
  AUTH_JWKS_ISSUER: optionalText,
  AUTH_JWKS_AUDIENCE: optionalText,
  PORTAL_FRAME_ANCESTORS: frameAncestors,
  OTEL_EXPORTER_OTLP_ENDPOINT: optionalUrl,
  OTEL_EXPORTER_OTLP_HEADERS: otlpHeaders,
  OTEL_SERVICE_NAME: optionalText,
  RETENTION_EVENTS_DAYS: retentionDays(30),
  RETENTION_DELIVERIES_DAYS: retentionDays(30),
  RETENTION_AUDIT_DAYS: retentionDays(365),
});

const ConfigSchema = vars.transform((v) => ({
  /** `host:port/v2` of the local WebSocket-to-TCP proxy; undefined: Neon's own endpoint. */
  neonWsProxy: v.NEON_WS_PROXY,
  /** Normalised `host[:port]` entries the SSRF guard lets through although local. */
  egressAllowlist: v.EGRESS_ALLOWLIST,
  retryScale: v.RETRY_SCALE,
  redisTimeoutMs: v.REDIS_TIMEOUT_MS,
  redriveAfterSeconds: v.REDRIVE_AFTER_SECONDS,
  /** null: no Redis, the Durable Object fallbacks answer. */
  redis: v.UPSTASH_REDIS_REST_URL === undefined ? null : { url: v.UPSTASH_REDIS_REST_URL, token: v.UPSTASH_REDIS_REST_TOKEN ?? '' },
  /** null: only this deployment's HS256 admin tokens. */
  authJwks: v.AUTH_JWKS_URL === undefined ? null : { url: v.AUTH_JWKS_URL, issuer: v.AUTH_JWKS_ISSUER, audience: v.AUTH_JWKS_AUDIENCE },
  /** The console's CSP `frame-ancestors` sources, e.g. `'self' https://app.example.com`. */
  portalFrameAncestors: v.PORTAL_FRAME_ANCESTORS,
  /** null: no spans are exported. Else where OTLP/HTTP JSON spans go (`<endpoint>/v1/traces`), with which headers, as which service. */
  otlp:
    v.OTEL_EXPORTER_OTLP_ENDPOINT === undefined
      ? null
      : {
          tracesUrl: `${v.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, '')}/v1/traces`,
          headers: v.OTEL_EXPORTER_OTLP_HEADERS,
          serviceName: v.OTEL_SERVICE_NAME ?? 'switchyard',
        },
  /** Days kept for tenants without their own retention settings (src/archive/retention-job.ts). */
  retentionDefaults: { events: v.RETENTION_EVENTS_DAYS, deliveries: v.RETENTION_DELIVERIES_DAYS, audit: v.RETENTION_AUDIT_DAYS },
}));

export type Config = z.infer<typeof ConfigSchema>;

const parsed = new WeakMap<object, { config: Config } | { error: Error }>();

/** The parsed settings of `env`; throws an error naming each malformed setting. */
export function configOf(env: ConfigVars): Config {
  let entry = parsed.get(env);
  if (!entry) {
    entry = parse(env);
    parsed.set(env, entry);
    if ('error' in entry) console.error(JSON.stringify({ msg: 'invalid configuration', error: entry.error.message }));
  }
  if ('error' in entry) throw entry.error;
  return entry.config;
}

/** Throws what `configOf` would for these settings (npm run dev checks them before starting the Worker). */
export function checkConfig(settings: ConfigVars): void {
  const entry = parse(settings);
  if ('error' in entry) throw entry.error;
}

const NAMES = vars.keyof().options;
/** Never echoed in an error. */
const SECRET_NAMES: ReadonlySet<string> = new Set(['UPSTASH_REDIS_REST_URL', 'UPSTASH_REDIS_REST_TOKEN', 'OTEL_EXPORTER_OTLP_HEADERS']);

function parse(env: ConfigVars): { config: Config } | { error: Error } {
  // only the settings: an env also holds bindings, which zod must not walk
  const input: ConfigVars = Object.fromEntries(NAMES.map((name) => [name, env[name]]));
  const result = ConfigSchema.safeParse(input);
  if (result.success) return { config: result.data };
  const problems = result.error.issues.map((issue) => {
    const name = String(issue.path[0]);
    const value = Object.hasOwn(input, name) && !SECRET_NAMES.has(name) ? ` (got ${JSON.stringify(Reflect.get(input, name))})` : '';
    return `${issue.message.startsWith(`${name}:`) ? issue.message : `${name}: ${issue.message}`}${value}`;
  });
  return { error: new Error(`invalid settings: ${problems.join('; ')}`) };
}
