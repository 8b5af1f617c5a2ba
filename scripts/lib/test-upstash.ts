/**
 * The Redis side of the test set-up: the Upstash REST server (upstash-rest.ts) in front of
 * the real Redis on 127.0.0.1:6379, behind a switchable link the tests can take down or slow down
 * through the control server (`POST /upstash/{up,down,unreachable,slow}`, `GET /upstash/stats`). CI requires
 * the real Redis; elsewhere, without one, the Redis suites are skipped and Redis stays unset.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { reachable } from './postgres.ts';
import { startSwitchableProxy, type LinkMode, type SwitchableProxy } from './switchable-proxy.ts';
import { startUpstashRest, type UpstashRest } from './upstash-rest.ts';

export interface TestUpstash {
  /** What the Worker uses (through the switchable link); '' when there is no Redis. */
  url: string;
  /** Straight to the REST server, for tests that inspect Redis. */
  directUrl: string;
  token: string;
  available: boolean;
  /** Answers the control paths under /upstash/; false for any other path. */
  control(req: IncomingMessage, url: URL, res: ServerResponse): boolean;
  close(): Promise<void>;
}

export async function startTestUpstash(): Promise<TestUpstash> {
  const token = `test-${randomUUID()}`;
  if (!(await reachable('127.0.0.1', 6379))) {
    if (process.env.CI) throw new Error('CI requires the real Redis on 127.0.0.1:6379, and it is not reachable');
    console.warn('[setup] no Redis on 127.0.0.1:6379; Redis suites are skipped and the Durable Object fallback serves');
    return { url: '', directUrl: '', token, available: false, control: () => false, close: async () => {} };
  }
  const rest: UpstashRest = await startUpstashRest({ token, timeoutMs: 2_000 });
  const link: SwitchableProxy = await startSwitchableProxy(rest.url, { slowMs: 3_000 });
  console.log(`[setup] Redis: Upstash REST ${rest.url} (link ${link.url})`);
  return {
    url: link.url,
    directUrl: rest.url,
    token,
    available: true,
    control(req, url, res) {
      const mode = url.pathname.match(/^\/upstash\/(up|down|unreachable|slow)$/)?.[1] as LinkMode | undefined;
      if (req.method === 'POST' && mode) {
        link.setMode(mode);
        res.writeHead(204).end();
        return true;
      }
      if (req.method === 'GET' && url.pathname === '/upstash/stats') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(rest.stats()));
        return true;
      }
      return false;
    },
    close: async () => {
      await link.close();
      await rest.close();
    },
  };
}
