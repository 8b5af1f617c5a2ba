/**
 * A PostgreSQL cluster of our own (initdb in a temporary directory, its own port), so the fault
 * suite can really stop and start a database without touching the machine's shared server.
 * As root, the server runs as the `postgres` user (Postgres refuses to run as root).
 * Returns null when no initdb/pg_ctl can be found or used; the caller falls back.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './runtime.ts';

const exec = promisify(execFile);

export interface PrivatePostgres {
  url: string;
  port: number;
  /** `pg_ctl stop -m immediate`: the server dies without a checkpoint, as on a crash. */
  stop(): Promise<void>;
  start(): Promise<void>;
  destroy(): Promise<void>;
}

function findBin(name: string): string | null {
  const candidates = [`/usr/local/bin/${name}`, `/usr/bin/${name}`];
  try {
    for (const version of readdirSync('/usr/lib/postgresql').sort().reverse()) candidates.push(`/usr/lib/postgresql/${version}/bin/${name}`);
  } catch {
    // no Debian layout
  }
  return candidates.find((c) => existsSync(c)) ?? null;
}

async function postgresUser(): Promise<{ uid: number; gid: number } | null> {
  try {
    const uid = Number((await exec('id', ['-u', 'postgres'])).stdout.trim());
    const gid = Number((await exec('id', ['-g', 'postgres'])).stdout.trim());
    return Number.isInteger(uid) && Number.isInteger(gid) ? { uid, gid } : null;
  } catch {
    return null;
  }
}

/** Creates the cluster in a fresh directory of its own under the system temp dir (the server's user must reach it). */
export async function startPrivatePostgres(): Promise<PrivatePostgres | null> {
  const initdb = findBin('initdb');
  const pgCtl = findBin('pg_ctl');
  if (!initdb || !pgCtl) return null;
  const root = process.getuid?.() === 0;
  const owner = root ? await postgresUser() : null;
  if (root && !owner) return null;
  const run = (bin: string, args: string[]) => (root ? exec('runuser', ['-u', 'postgres', '--', bin, ...args]) : exec(bin, args));

  const dir = await mkdtemp(join(tmpdir(), 'switchyard-pg-'));
  const data = join(dir, 'data');
  const sockets = join(dir, 'sockets');
  await mkdir(sockets, { recursive: true });
  if (owner) {
    await chmod(dir, 0o700);
    await chown(dir, owner.uid, owner.gid);
    await chown(sockets, owner.uid, owner.gid);
  }
  try {
    await run(initdb, ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync']);
  } catch (error) {
    const e = error as Error & { stderr?: string };
    console.warn(`private postgres: initdb failed: ${(e.stderr || e.message).trim().split('\n').slice(-2).join(' ')}`);
    await rm(dir, { recursive: true, force: true });
    return null;
  }
  const port = await freePort();
  const options = `-p ${port} -c listen_addresses=127.0.0.1 -k ${sockets} -c max_connections=100 -c shared_buffers=32MB`;
  const start = async () => {
    await run(pgCtl, ['-D', data, '-o', options, '-l', join(dir, 'server.log'), '-w', '-t', '30', 'start']);
  };
  await start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    start,
    async stop() {
      await run(pgCtl, ['-D', data, '-m', 'immediate', '-w', 'stop']);
    },
    async destroy() {
      await run(pgCtl, ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
}
