/**
 * A Postgres connection that outlives one invocation, for a Durable Object that flushes often: it is
 * opened on first use, reused while busy, closed after `idleMs` without use (so an idle object can be
 * evicted), and dropped on any error so the next use reconnects.
 */
import { connect, withTimeout, type Db } from './client';

/** A flush statement that takes longer than this is treated as a dead connection. */
const QUERY_TIMEOUT_MS = 30_000;

export interface SharedConnection {
  use<T>(work: (db: Db) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export function sharedConnection(env: { DATABASE_URL: string; NEON_WS_PROXY?: string }, idleMs = 10_000): SharedConnection {
  let current: Promise<Db> | null = null;
  const open = () => {
    const opening = connect(env).then((client) => {
      // a connection the server or the network closed must not be reused
      client.on('end', () => {
        if (current === opening) current = null;
      });
      return client;
    });
    return opening;
  };
  let idle: ReturnType<typeof setTimeout> | undefined;

  const close = async () => {
    clearTimeout(idle ?? null);
    const closing = current;
    current = null;
    if (closing) await closing.then((db) => db.end()).catch(() => {});
  };

  return {
    async use(work) {
      clearTimeout(idle ?? null);
      current ??= open();
      const mine = current;
      try {
        return await withTimeout(mine.then(work), QUERY_TIMEOUT_MS, 'database work timed out');
      } catch (error) {
        if (current === mine) await close();
        throw error;
      } finally {
        if (current === mine) idle = setTimeout(() => void close(), idleMs);
      }
    },
    close,
  };
}
