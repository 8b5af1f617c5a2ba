/**
 * Which settings `npm run dev` hands to the Worker, and how. Pure, so test/node can check it.
 *
 * Every setting the README documents is read from the environment of `npm run dev` or from
 * `.dev.vars`; the environment wins. Two wrangler rules decide how they travel:
 * - With `[secrets] required` in wrangler.toml, `wrangler dev` takes from `.dev.vars`, `--env-file`
 *   and the environment only the names that are required secrets or `[vars]`; everything else there
 *   is dropped without a word. The optional settings therefore go as `--var NAME:value`.
 * - `--var` bindings do not count as the required secrets ("Missing required secrets: …" although
 *   they are set), so those go in an env file, which wrangler reads instead of `.dev.vars`.
 */

export interface WorkerSetting {
  name: string;
  /** Masked in the banner. */
  secret: boolean;
  /** In wrangler.toml `[secrets] required`: travels in the env file. */
  required: boolean;
}

const setting = (name: string, secret = false, required = false): WorkerSetting => ({ name, secret, required });

/** The Worker's settings (README "Configuration", src/env.d.ts), in the order the banner lists them. */
export const WORKER_SETTINGS: readonly WorkerSetting[] = [
  setting('ADMIN_JWT_SECRET', true, true),
  setting('ENCRYPTION_KEY', true, true),
  setting('DATABASE_URL', true, true),
  setting('NEON_WS_PROXY'),
  setting('EGRESS_ALLOWLIST'),
  setting('RETRY_SCALE'),
  setting('UPSTASH_REDIS_REST_URL'),
  setting('UPSTASH_REDIS_REST_TOKEN', true),
  setting('REDIS_TIMEOUT_MS'),
  setting('REDRIVE_AFTER_SECONDS'),
  setting('AUTH_JWKS_URL'),
  setting('AUTH_JWKS_ISSUER'),
  setting('AUTH_JWKS_AUDIENCE'),
  setting('PORTAL_FRAME_ANCESTORS'),
  setting('OTEL_EXPORTER_OTLP_ENDPOINT'),
  setting('OTEL_EXPORTER_OTLP_HEADERS', true),
  setting('OTEL_SERVICE_NAME'),
  setting('RETENTION_EVENTS_DAYS'),
  setting('RETENTION_DELIVERIES_DAYS'),
  setting('RETENTION_AUDIT_DAYS'),
];

/** Settings of the dev script itself, never passed to the Worker. */
export const DEV_SETTINGS: readonly string[] = ['PORT'];

export type Origin = 'environment' | '.dev.vars' | 'npm run dev';

export interface ResolvedSettings {
  /** Worker setting name → value, only the ones that are set. */
  values: Record<string, string>;
  origins: Record<string, Origin>;
  /** `.dev.vars` keys that are no setting at all (a typo such as EGRESS_ALLOWLST). */
  unknown: string[];
}

const known = new Set([...WORKER_SETTINGS.map((s) => s.name), ...DEV_SETTINGS]);

/** One setting: the environment's value when it has one (even empty), else `.dev.vars`'s. */
export function pick(
  name: string,
  env: Readonly<Record<string, string | undefined>>,
  devVars: Readonly<Record<string, string>>,
): { value: string; origin: Origin } | null {
  const fromEnv = env[name];
  if (fromEnv !== undefined) return { value: fromEnv, origin: 'environment' };
  return Object.hasOwn(devVars, name) ? { value: devVars[name] ?? '', origin: '.dev.vars' } : null;
}

export function resolveSettings(env: Readonly<Record<string, string | undefined>>, devVars: Readonly<Record<string, string>>): ResolvedSettings {
  const values: Record<string, string> = {};
  const origins: Record<string, Origin> = {};
  for (const { name } of WORKER_SETTINGS) {
    const found = pick(name, env, devVars);
    // an empty value means "unset", as in the Worker (`EGRESS_ALLOWLIST= npm run dev` lifts a .dev.vars entry)
    if (!found || found.value === '') continue;
    values[name] = found.value;
    origins[name] = found.origin;
  }
  return { values, origins, unknown: Object.keys(devVars).filter((key) => !known.has(key)) };
}

/**
 * The `wrangler dev` arguments and env-file text that give the Worker exactly `values`.
 * Throws on a value the env file cannot hold (a newline or a single quote).
 */
export function wranglerInputs(values: Readonly<Record<string, string>>, envFile: string): { args: string[]; envFileText: string } {
  const args = ['--env-file', envFile];
  const lines = ['# Written by scripts/dev.ts on every start (the required secrets for wrangler dev); edit .dev.vars instead'];
  for (const { name, required } of WORKER_SETTINGS) {
    const value = values[name];
    if (value === undefined) continue;
    if (!required) {
      args.push('--var', `${name}:${value}`);
      continue;
    }
    if (/['\r\n]/.test(value)) throw new Error(`${name} contains a quote or a line break, which wrangler's env file cannot carry`);
    // single quotes keep # and spaces; wrangler expands $NAME in env files unless written \$
    lines.push(`${name}='${value.replaceAll('$', '\\$')}'`);
  }
  return { args, envFileText: `${lines.join('\n')}\n` };
}

/** A secret as the banner shows it: enough to tell two apart, not enough to use. */
export function mask(name: string, value: string): string {
  if (name === 'DATABASE_URL') {
    try {
      const url = new URL(value);
      if (url.password) url.password = '***';
      return url.toString();
    } catch {
      return '***';
    }
  }
  return `*** (${value.length} characters)`;
}

/** Banner lines, one per setting in force: `NAME  value  (from …)`, secrets masked. */
export function describeSettings(settings: Pick<ResolvedSettings, 'values' | 'origins'>): string[] {
  const shown = WORKER_SETTINGS.filter(({ name }) => settings.values[name] !== undefined);
  const width = Math.max(0, ...shown.map(({ name }) => name.length));
  return shown.map(({ name, secret }) => {
    const value = settings.values[name] ?? '';
    return `${name.padEnd(width)}  ${secret ? mask(name, value) : value}   (${settings.origins[name] ?? 'npm run dev'})`;
  });
}
