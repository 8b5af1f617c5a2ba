/** `login`, `logout`, `whoami`: the stored URL and token (src/config.ts). */
import { createManagementClient } from '@switchyard/client';
import { defineCommand } from 'citty';
import { unwrap, USER_AGENT } from '../api.ts';
import { configPath, deleteConfig, normalizeUrl, resolveConnection, writeConfig } from '../config.ts';
import { CliError, EXIT } from '../errors.ts';
import { decodeToken, tokenKind } from '../jwt.ts';
import { jsonArg } from '../cli.ts';
import { printJson, printLine } from '../output.ts';

export const login = defineCommand({
  meta: { name: 'switchyard login', description: 'Store the runtime URL and a token in the config file (mode 0600)' },
  args: {
    url: { type: 'string', required: true, description: 'the runtime, e.g. http://127.0.0.1:8787', valueHint: 'url' },
    token: { type: 'string', required: true, description: 'an admin token or a tenant token', valueHint: 'jwt' },
    check: {
      type: 'boolean',
      default: true,
      description: 'check the token against the runtime before storing it',
      negativeDescription: 'store without checking',
    },
    ...jsonArg,
  },
  async run({ args }) {
    const url = normalizeUrl(args.url);
    const claims = decodeToken(args.token);
    if (!claims) throw new CliError('error: the token is not a JWT', EXIT.usage);
    if (args.check) {
      const client = createManagementClient({ baseUrl: url, token: args.token, headers: { 'user-agent': USER_AGENT } });
      // a read every token may make: the tenant itself, or the tenant list for an admin
      if (typeof claims.tenant === 'string') await unwrap(url, client.GET('/v1/tenants/{tenantId}', { params: { path: { tenantId: claims.tenant } } }));
      else await unwrap(url, client.GET('/v1/tenants', { params: { query: { limit: 1 } } }));
    }
    const path = await writeConfig({ url, token: args.token });
    if (args.json) printJson({ url, config: path, kind: tokenKind(claims), tenant: claims.tenant ?? null });
    else printLine(`Logged in to ${url} (${describe(claims)}); stored in ${path}`);
  },
});

export const logout = defineCommand({
  meta: { name: 'switchyard logout', description: 'Remove the stored URL and token' },
  args: { ...jsonArg },
  async run({ args }) {
    const removed = await deleteConfig();
    if (args.json) printJson({ removed, config: configPath() });
    else printLine(removed ? `Logged out (removed ${configPath()})` : `Not logged in (no ${configPath()})`);
  },
});

export const whoami = defineCommand({
  meta: { name: 'switchyard whoami', description: 'Show the runtime URL and what the token is (decoded, not verified)' },
  args: { ...jsonArg },
  async run({ args }) {
    const connection = await resolveConnection();
    const claims = decodeToken(connection.token);
    const exp = typeof claims?.exp === 'number' ? new Date(claims.exp * 1000).toISOString() : null;
    const expired = typeof claims?.exp === 'number' && claims.exp * 1000 < Date.now();
    const info = {
      url: connection.url,
      kind: tokenKind(claims),
      tenant: typeof claims?.tenant === 'string' ? claims.tenant : null,
      scopes: Array.isArray(claims?.scopes) ? claims.scopes : null,
      exp,
      expired,
      from: connection.from,
      config: configPath(),
    };
    if (args.json) return printJson(info);
    printLine(`url:     ${info.url}  (${info.from.url === 'env' ? 'SWITCHYARD_URL' : info.config})`);
    printLine(`token:   ${describe(claims)}  (${info.from.token === 'env' ? 'SWITCHYARD_TOKEN' : info.config})`);
    if (info.scopes) printLine(`scopes:  ${info.scopes.join(' ') || '(none)'}`);
    printLine(`expires: ${exp ?? 'never'}${expired ? '  (EXPIRED)' : ''}`);
  },
});

function describe(claims: ReturnType<typeof decodeToken>): string {
  const kind = tokenKind(claims);
  return kind === 'tenant' ? `tenant token for ${String(claims?.tenant)}` : `${kind} token`;
}
