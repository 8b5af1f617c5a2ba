/**
 * Where the CLI finds the runtime and its token: `SWITCHYARD_URL` / `SWITCHYARD_TOKEN` first (CI),
 * then the file `switchyard login` writes, `$XDG_CONFIG_HOME/switchyard/config.json`
 * (`~/.config/switchyard/config.json` by default), mode 0600 because it holds a bearer token.
 */
import { access, chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { CliError, EXIT } from './errors.ts';

export interface StoredConfig {
  url: string;
  token: string;
}

export interface Connection {
  url: string;
  token: string;
  /** Where each value came from, for `whoami`. */
  from: { url: 'env' | 'config'; token: 'env' | 'config' };
}

type Env = Record<string, string | undefined>;

export function configPath(env: Env = process.env): string {
  const base = env.XDG_CONFIG_HOME || join(homedir(), '.config');
  return join(base, 'switchyard', 'config.json');
}

export async function readConfig(env: Env = process.env): Promise<Partial<StoredConfig>> {
  let text: string;
  try {
    text = await readFile(configPath(env), 'utf8');
  } catch {
    return {};
  }
  try {
    const parsed = JSON.parse(text) as Partial<StoredConfig>;
    return { url: typeof parsed.url === 'string' ? parsed.url : undefined, token: typeof parsed.token === 'string' ? parsed.token : undefined };
  } catch {
    throw new CliError(`error: ${configPath(env)} is not valid JSON; run switchyard login again`, EXIT.auth);
  }
}

export async function writeConfig(config: StoredConfig, env: Env = process.env): Promise<string> {
  const path = configPath(env);
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFile(path, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  // writeFile keeps the mode of a file that already existed
  await chmod(path, 0o600);
  return path;
}

export async function deleteConfig(env: Env = process.env): Promise<boolean> {
  const path = configPath(env);
  const existed = await access(path).then(
    () => true,
    () => false,
  );
  await rm(path, { force: true });
  return existed;
}

/** The runtime's origin, without a trailing slash. */
export function normalizeUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new CliError(`error: ${url} is not a URL (expected e.g. http://127.0.0.1:8787)`, EXIT.usage);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new CliError(`error: ${url} must be http or https`, EXIT.usage);
  return url.replace(/\/+$/, '');
}

/** URL only: `send` needs no token. */
export async function resolveUrl(env: Env = process.env): Promise<string> {
  const url = env.SWITCHYARD_URL || (await readConfig(env)).url;
  if (!url) throw new CliError('error: no runtime URL: run `switchyard login --url <url> --token <token>` or set SWITCHYARD_URL', EXIT.auth);
  return normalizeUrl(url);
}

export async function resolveConnection(env: Env = process.env): Promise<Connection> {
  const stored = await readConfig(env);
  const url = env.SWITCHYARD_URL || stored.url;
  const token = env.SWITCHYARD_TOKEN || stored.token;
  if (!url || !token) {
    throw new CliError('error: not logged in: run `switchyard login --url <url> --token <token>` or set SWITCHYARD_URL and SWITCHYARD_TOKEN', EXIT.auth);
  }
  return {
    url: normalizeUrl(url),
    token,
    from: { url: env.SWITCHYARD_URL ? 'env' : 'config', token: env.SWITCHYARD_TOKEN ? 'env' : 'config' },
  };
}
