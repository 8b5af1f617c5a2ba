/**
 * `.dev.vars` holds the local Worker secrets and settings; scripts/dev.ts reads it and hands the settings
 * to wrangler (see worker-settings.ts). Created on first run, never overwritten: only keys that are
 * absent get appended, so hand edits and existing tokens survive.
 */
import { randomBytes } from 'node:crypto';
import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { SignJWT } from 'jose';

/** What `.dev.vars` gets for a key it lacks, with a comment line above it when the value needs one. */
const generators: Record<string, { value: () => string; comment?: string }> = {
  ADMIN_JWT_SECRET: { value: () => randomBytes(32).toString('base64url') },
  ENCRYPTION_KEY: { value: () => randomBytes(32).toString('base64') },
  // present though empty: wrangler, and so `npm test` through the vitest plugin, counts a required secret
  // as set only when .dev.vars has its key ("Missing required secrets: DATABASE_URL" otherwise)
  DATABASE_URL: { value: () => '', comment: '# empty: the embedded PGlite; a postgres:// URL here (or in the environment) replaces it' },
};

/**
 * The one-line subset of dotenv syntax (what wrangler reads): `KEY=value`, optionally `export`ed or
 * quoted; `#` starts a comment after an unquoted value or a closing quote; `\n` in double quotes is
 * a line break.
 */
export function parseDevVars(text: string): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const match = line.match(/^\s*(?:export\s+)?([A-Za-z_]\w*)\s*=\s*(.*)$/);
    if (!match) continue;
    const [, key = '', raw = ''] = match;
    const quoted = raw.match(/^(['"`])(.*)\1\s*(?:#.*)?$/);
    if (!quoted) vars[key] = (raw.split('#')[0] ?? '').trim();
    else vars[key] = quoted[1] === '"' ? (quoted[2] ?? '').replaceAll('\\n', '\n') : (quoted[2] ?? '');
  }
  return vars;
}

export async function ensureDevVars(path = '.dev.vars'): Promise<Record<string, string>> {
  const existing = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return null;
    throw error;
  });
  const vars = existing === null ? {} : parseDevVars(existing);
  const lines: string[] = [];
  for (const [key, { value, comment }] of Object.entries(generators)) {
    if (Object.hasOwn(vars, key)) continue;
    vars[key] = value();
    if (comment) lines.push(comment);
    lines.push(`${key}=${vars[key]}`);
  }
  if (lines.length === 0) return vars;
  if (existing === null) {
    // 'wx' so a file created concurrently is never clobbered
    const header =
      '# Local settings for npm run dev (created by scripts/dev.ts; the environment wins over this file).\n# Any setting of README "Configuration" may go here too, e.g. EGRESS_ALLOWLIST=127.0.0.1:9000\n';
    await writeFile(path, `${header}${lines.join('\n')}\n`, { mode: 0o600, flag: 'wx' });
  } else {
    const separator = existing.length > 0 && !existing.endsWith('\n') ? '\n' : '';
    await appendFile(path, `${separator}${lines.join('\n')}\n`);
  }
  return vars;
}

/** An admin management token for this deployment (see DESIGN.md §3); the Worker refuses tokens that live over 30 days. */
export function adminToken(secret: string, ttl = '30d'): Promise<string> {
  return new SignJWT({ scope: 'admin', sub: 'dev' })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setExpirationTime(ttl)
    .sign(new TextEncoder().encode(secret));
}
