import { reachable, routeThroughLocalProxy } from './postgres.ts';
import { startWsProxy, type WsProxy } from './ws-proxy.ts';

const localHosts = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

/** Neon's hosts speak WebSocket themselves; anything on this machine needs our proxy in between. */
export function isLocalDatabase(url: string): boolean {
  return localHosts.has(new URL(url).hostname);
}

/** For a local database: starts the WebSocket proxy and points Node's Neon driver at it. */
export async function proxyFor(url: string): Promise<WsProxy | null> {
  if (!isLocalDatabase(url)) return null;
  const { hostname, port } = new URL(url);
  // the driver would only report "Connection terminated unexpectedly"
  if (!(await reachable(hostname.replace(/^\[|\]$/g, ''), Number(port) || 5432))) {
    throw new Error(`no database is listening on ${describeDatabase(url)}`);
  }
  const proxy = await startWsProxy();
  routeThroughLocalProxy(proxy.endpoint);
  return proxy;
}

/** `host:port/db` of a connection string, without credentials, for log lines. */
export function describeDatabase(url: string): string {
  const u = new URL(url);
  return `${u.hostname}:${u.port || 5432}${u.pathname}`;
}
