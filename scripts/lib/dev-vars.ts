/**
 * `.dev.vars` holds the local Worker secrets that wrangler loads on its own. Created on first run,
 * never overwritten: only keys that are absent get appended, so hand edits and existing tokens survive.
 */
import { randomBytes } from 'node:crypto';
import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { SignJWT } from 'jose';

const generators: Record<string, () => string> = {
  ADMIN_JWT_SECRET: () => randomBytes(32).toString('base64url'),
  ENCRYPTION_KEY: () => randomBytes(32).toString('base64'),
};

/** The subset of dotenv syntax wrangler accepts that we need: `KEY=value`, optionally quoted. */
export function parseDevVars(text: string): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const match = line.match(/^\s*(?:export\s+)?([A-Za-z_]\w*)\s*=\s*(.*?)\s*$/);
    if (!match) continue;
    const [, key = '', raw = ''] = match;
    vars[key] = raw.match(/^(['"])(.*)\1$/)?.[2] ?? raw;
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
  for (const [key, generate] of Object.entries(generators)) {
    if (Object.hasOwn(vars, key)) continue;
    vars[key] = generate();
    lines.push(`${key}=${vars[key]}`);
  }
  if (lines.length === 0) return vars;
  if (existing === null) {
    // 'wx' so a file created concurrently is never clobbered
    await writeFile(path, `# Local Worker secrets (wrangler dev), created by scripts/dev.ts\n${lines.join('\n')}\n`, { mode: 0o600, flag: 'wx' });
  } else {
    const separator = existing.length > 0 && !existing.endsWith('\n') ? '\n' : '';
    await appendFile(path, `${separator}${lines.join('\n')}\n`);
  }
  return vars;
}

/** An admin management token for this deployment (see DESIGN.md §3). */
export function adminToken(secret: string, ttl = '30d'): Promise<string> {
  return new SignJWT({ scope: 'admin', sub: 'dev' })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setExpirationTime(ttl)
    .sign(new TextEncoder().encode(secret));
}
