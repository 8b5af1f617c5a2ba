/**
 * Postgres through `@neondatabase/serverless`. In production it speaks to Neon; locally `NEON_WS_PROXY`
 * routes the same driver through our WebSocket-to-TCP proxy to any Postgres (or PGlite).
 * Open one client per invocation and end it with `ctx.waitUntil(db.end())`.
 */
import { Client, neonConfig } from '@neondatabase/serverless';
import { configOf, type ConfigVars } from '../config';

export type Db = Pick<Client, 'query' | 'end'>;

interface DbEnv extends Pick<ConfigVars, 'NEON_WS_PROXY'> {
  DATABASE_URL: string;
}

function configure(env: DbEnv): void {
  const proxy = configOf(env).neonWsProxy;
  if (!proxy) return;
  neonConfig.wsProxy = proxy;
  neonConfig.useSecureWebSocket = false;
  neonConfig.pipelineTLS = false;
  neonConfig.pipelineConnect = false;
}

export async function connect(env: DbEnv): Promise<Client> {
  configure(env);
  const client = new Client(env.DATABASE_URL);
  // an unreachable database must surface as an error, not a hung request
  await withTimeout(client.connect(), 5_000, 'database connect timed out');
  client.on('error', () => {});
  return client;
}

/** Runs `work` on a fresh connection and closes it afterwards (in the background when `waitUntil` is given). */
export async function withDb<T>(env: DbEnv, work: (db: Db) => Promise<T>, waitUntil?: (p: Promise<unknown>) => void): Promise<T> {
  const db = await connect(env);
  try {
    return await work(db);
  } finally {
    const ending = db.end().catch(() => {});
    if (waitUntil) waitUntil(ending);
    else await ending;
  }
}

export function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(message)), ms);
    }),
  ]).finally(() => clearTimeout(timer ?? null));
}

/** A client that connects on its first query: one connection per request, none when unused. */
export function lazyDb(env: DbEnv): Db {
  let client: Promise<Db> | null = null;
  const get = () => (client ??= connect(env));
  return {
    query: ((...args: Parameters<Db['query']>) => get().then((db) => (db.query as (...a: unknown[]) => unknown)(...args))) as Db['query'],
    end: (async () => {
      if (client) await (await client.catch(() => null))?.end();
    }) as Db['end'],
  };
}

/** Runs `work` inside BEGIN/COMMIT on one connection; rolls back on any error. */
export async function transaction<T>(db: Db, work: () => Promise<T>): Promise<T> {
  await db.query('BEGIN');
  try {
    const result = await work();
    await db.query('COMMIT');
    return result;
  } catch (error) {
    await db.query('ROLLBACK').catch(() => {});
    throw error;
  }
}
