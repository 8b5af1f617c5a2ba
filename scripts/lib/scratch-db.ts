/**
 * A throw-away database for one benchmark or fault-suite run: a fresh `<prefix>_<pid>` database on
 * the machine's Postgres (127.0.0.1:5432) when it answers, else embedded PGlite in memory. Migrated,
 * and dropped again by `stop()`. Databases of runs that died before their clean-up are dropped first.
 */
import { dropDatabase, migrate, query, reachable, recreateDatabase, startPglite, type Database } from './postgres.ts';

export const MACHINE_ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

/** Needs Node's Neon driver pointed at a proxy first (`routeThroughLocalProxy`). */
export async function scratchDatabase(prefix: string): Promise<Database> {
  let database: Database;
  if (await reachable('127.0.0.1', 5432)) {
    await dropAbandoned(prefix);
    const name = `${prefix}_${process.pid}`;
    const url = await recreateDatabase(MACHINE_ADMIN_URL, name);
    database = { url, kind: 'local-server', stop: () => dropDatabase(MACHINE_ADMIN_URL, name) };
  } else {
    database = await startPglite();
  }
  await migrate(database.url);
  return database;
}

async function dropAbandoned(prefix: string): Promise<void> {
  const rows = (await query(MACHINE_ADMIN_URL, 'SELECT datname FROM pg_database WHERE datname LIKE $1', [`${prefix}\\_%`])) as { datname: string }[];
  for (const { datname } of rows) {
    const pid = Number(datname.split('_').pop());
    if (pid && !alive(pid)) await dropDatabase(MACHINE_ADMIN_URL, datname);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
