/**
 * `npm run migrate`: applies pending `migrations/*.sql` to DATABASE_URL. A database on this machine is
 * reached through a temporary WebSocket proxy (the Neon driver speaks only WebSocket); Neon directly.
 */
import { describeDatabase, proxyFor } from './lib/local-db.ts';
import { migrate } from './lib/postgres.ts';
import type { WsProxy } from './lib/ws-proxy.ts';

const url = process.env.DATABASE_URL;
if (!url) {
  console.error('DATABASE_URL is not set.\nExample: DATABASE_URL=postgres://postgres@127.0.0.1:5432/switchyard_dev npm run migrate');
  process.exit(1);
}
if (!URL.canParse(url)) {
  console.error('DATABASE_URL is not a valid URL (expected postgres://user:password@host:port/database)');
  process.exit(1);
}

let proxy: WsProxy | null = null;
try {
  proxy = await proxyFor(url);
  const applied = await migrate(url);
  const target = describeDatabase(url);
  if (applied.length === 0) console.log(`${target}: up to date, no migrations pending`);
  else console.log(`${target}: applied ${applied.length} migration(s):\n${applied.map((m) => `  ${m}`).join('\n')}`);
} catch (error) {
  console.error(`migrate failed: ${(error as Error).message}`);
  process.exitCode = 1;
} finally {
  await proxy?.close();
}
