/**
 * Starts what the workerd tests talk to: a real Postgres (the machine's server on 127.0.0.1:5432 in a
 * fresh `switchyard_test_<pid>` database, or embedded PGlite when none is reachable; CI insists on the real
 * one), the WebSocket-to-TCP proxy the Neon driver goes through, a webhook receiver that checks
 * signatures with the official `standardwebhooks` package, the Upstash REST server in front of the real
 * Redis (scripts/lib/test-upstash.ts), and a small control server that lets tests cut the database and
 * Redis links and host JWKS documents.
 */
import { createServer } from 'node:http';
import type { TestProject } from 'vitest/node';
import { startFakeProviders } from '../scripts/lib/fake-providers.ts';
import { startReceiver } from '../scripts/lib/receiver.ts';
import { startTestUpstash } from '../scripts/lib/test-upstash.ts';
import { startWsProxy } from '../scripts/lib/ws-proxy.ts';
import { dropDatabase, migrate, query, reachable, recreateDatabase, startPglite, routeThroughLocalProxy, type Database } from '../scripts/lib/postgres.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    receiverUrl: string;
    databaseUrl: string;
    databaseKind: string;
    wsProxy: string;
    controlUrl: string;
    upstashUrl: string;
    upstashDirectUrl: string;
    upstashToken: string;
    redisRequired: string;
    /** Resend, Twilio and Teams stand-ins (scripts/lib/fake-providers.ts) for the email, sms and teams actions. */
    providersUrl: string;
  }
}

export default async function setup(project: TestProject) {
  const proxy = await startWsProxy();
  routeThroughLocalProxy(proxy.endpoint);
  const database = await findDatabase();
  await migrate(database.url);

  const receiver = await startReceiver();
  const providers = await startFakeProviders();
  const upstash = await startTestUpstash();

  const jwks = new Map<string, string>();
  const control = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://control');
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      if (upstash.control(req, url, res)) return;
      if (req.method === 'POST' && url.pathname === '/proxy/pause') proxy.pause();
      else if (req.method === 'POST' && url.pathname === '/proxy/resume') proxy.resume();
      else if (req.method === 'PUT' && url.pathname.startsWith('/jwks/')) jwks.set(url.pathname, body);
      else if (req.method === 'GET' && jwks.has(url.pathname)) {
        res.writeHead(200, { 'content-type': 'application/json' }).end(jwks.get(url.pathname));
        return;
      } else {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => control.listen(0, '127.0.0.1', resolve));
  const address = control.address();
  const controlPort = typeof address === 'object' && address ? address.port : 0;

  project.provide('receiverUrl', receiver.url);
  project.provide('providersUrl', providers.url);
  project.provide('databaseUrl', database.url);
  project.provide('databaseKind', database.kind);
  project.provide('wsProxy', proxy.endpoint);
  project.provide('controlUrl', `http://127.0.0.1:${controlPort}`);
  project.provide('upstashUrl', upstash.url);
  project.provide('upstashDirectUrl', upstash.directUrl);
  project.provide('upstashToken', upstash.token);
  // without Redis only a local run may skip the Redis suites
  project.provide('redisRequired', String(upstash.available || Boolean(process.env.CI)));
  console.log(`[setup] Postgres: ${database.kind} (${new URL(database.url).host}), ws proxy ${proxy.endpoint}`);

  return async () => {
    control.close();
    await upstash.close();
    await receiver.close();
    await providers.close();
    await database.stop();
    await proxy.close();
  };
}

async function findDatabase(): Promise<Database> {
  if (process.env.TEST_DATABASE_URL) {
    return { url: process.env.TEST_DATABASE_URL, kind: 'external', stop: async () => {} };
  }
  if (await reachable('127.0.0.1', 5432)) {
    // one database per run, so parallel runs on one machine cannot disturb each other
    const admin = 'postgres://postgres@127.0.0.1:5432/postgres';
    const name = `switchyard_test_${process.pid}`;
    await dropAbandonedDatabases(admin);
    const url = await recreateDatabase(admin, name);
    return { url, kind: 'local-server', stop: () => dropDatabase(admin, name) };
  }
  if (process.env.CI) throw new Error('CI requires the real Postgres on 127.0.0.1:5432, and it is not reachable');
  console.warn('[setup] no Postgres on 127.0.0.1:5432; using embedded PGlite');
  return startPglite();
}

/** Drops test databases left by runs that were killed before their teardown. */
async function dropAbandonedDatabases(adminUrl: string): Promise<void> {
  const rows = (await query(adminUrl, "SELECT datname FROM pg_database WHERE datname LIKE 'switchyard\\_test\\_%'")) as { datname: string }[];
  for (const { datname } of rows) {
    const pid = Number(datname.split('_').pop());
    if (pid && !isAlive(pid)) await dropDatabase(adminUrl, datname);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
