/**
 * (d) Redis stops while ingest runs through rate-limited tenants. The runtime is pointed at a local
 * Upstash REST server (scripts/lib/upstash-rest.ts) in front of a redis-server of our own, which is
 * killed mid-run and started again. Ingest must keep answering 202 for a tenant under its limit, and
 * a tenant over its limit must still get 429 (the Durable Object fallback limiter took over).
 *
 * If the runtime never calls the REST server while Redis is up, it does not read the UPSTASH_* vars
 * and the scenario says so: then it only shows that ingest does not depend on Redis at all.
 */
import { join } from 'node:path';
import { startPrivateRedis } from '../lib/private-redis.ts';
import { createSource, makeEvent, send, signedIngest, type Api, type Source } from '../lib/switchyard-api.ts';
import { startUpstashRest } from '../lib/upstash-rest.ts';
import { launch, sleep, until, type FaultEnv, type ScenarioOutcome, FAULT_SHARDS } from './harness.ts';
import { createLedger, describeVerdict, loadStored, recordAnswer, verifyStorage, type Ledger } from './ledger.ts';

const TOKEN = 'faults-upstash-token';

export async function redisOutage(env: FaultEnv): Promise<ScenarioOutcome> {
  const lines: string[] = [];
  const problems: string[] = [];
  const redis = await startPrivateRedis();
  // without a redis-server of our own, a port nothing listens on stands for the stopped Redis
  const deadPort = redis ? 0 : 1;
  const rest = await startUpstashRest({ token: TOKEN, redisUrl: redis?.url ?? `redis://127.0.0.1:${deadPort}`, timeoutMs: 500 });
  lines.push(
    redis
      ? `Redis: redis-server of our own on port ${redis.port}, behind the Upstash REST server ${rest.url}`
      : `Redis: no redis-server binary; the Upstash REST server points at a dead port`,
  );
  const { runtime, api, logs } = await launch(env, {
    stateDir: join(env.work, 'state-redis'),
    bindings: { UPSTASH_REDIS_REST_URL: rest.url, UPSTASH_REDIS_REST_TOKEN: TOKEN },
  });
  try {
    const roomy = await limitedSource(api, 'faults redis roomy', { tenant: { requests: 100_000, window_seconds: 60 } });
    const tight = await limitedSource(api, 'faults redis tight', { source: { requests: 30, window_seconds: 60 } });
    const ledger = createLedger();
    const tag = Date.now().toString(36);
    let n = 0;
    const burst = async (source: Source, count: number, label: string) => {
      const statuses: Record<number, number> = {};
      for (let i = 0; i < count; i++) {
        const request = signedIngest(source, [makeEvent(`${label}-${tag}-${++n}`, n)], 'single');
        const answer = await send(runtime.url, request);
        if (source === roomy) recordAnswer(ledger, request, answer.status, answer.json);
        statuses[answer.status] = (statuses[answer.status] ?? 0) + 1;
      }
      return statuses;
    };

    const upBefore = await burst(roomy, 60, 'redis-up');
    const restCalls = rest.stats().requests;
    const usesUpstash = restCalls > 0;
    lines.push(`Redis up: roomy tenant ${JSON.stringify(upBefore)}; the runtime made ${restCalls} calls to the Upstash REST server`);
    if (!usesUpstash)
      lines.push('NOTE: the runtime does not read UPSTASH_REDIS_REST_URL (no calls reached the REST server): this run only shows ingest does not need Redis');

    if (redis) await redis.stop();
    env.log('  (d) Redis stopped');
    const down = await burst(roomy, 120, 'redis-down');
    const tightDown = await burst(tight, 45, 'redis-down-tight');
    lines.push(`Redis down: roomy tenant ${JSON.stringify(down)}; tight tenant (30 per 60 s per source) ${JSON.stringify(tightDown)}`);
    if ((down[202] ?? 0) !== 120) problems.push(`with Redis down the roomy tenant got ${JSON.stringify(down)} instead of 120 × 202`);
    if (usesUpstash && !tightDown[429])
      problems.push('with Redis down the tight tenant was never limited: the fallback limiter did not take over (or failed open)');
    if (usesUpstash && (tightDown[202] ?? 0) < 25) problems.push(`with Redis down the tight tenant got only ${tightDown[202] ?? 0} × 202 of its 30 allowed`);

    if (redis) {
      await redis.start();
      await sleep(6_000); // past the runtime's circuit breaker
      const after = await burst(roomy, 60, 'redis-back');
      lines.push(`Redis back: roomy tenant ${JSON.stringify(after)}`);
      if ((after[202] ?? 0) !== 60) problems.push(`after Redis came back the roomy tenant got ${JSON.stringify(after)}`);
    }

    await until(async () => (await loadStored(env.database.url, roomy.tenantId)).length >= acknowledged(ledger), 30_000);
    const verdict = verifyStorage(ledger, await loadStored(env.database.url, roomy.tenantId));
    lines.push(describeVerdict(verdict));
    problems.push(...verdict.problems);
    const degraded = logs.filter((l) => l.includes('redis degraded')).length;
    lines.push(`worker logged "redis degraded" ${degraded} time(s)`);
  } finally {
    await runtime.stop();
    await rest.close();
    if (redis) await redis.stop();
  }
  return { pass: problems.length === 0, lines, problems };
}

function acknowledged(ledger: Ledger): number {
  return [...ledger.values()].filter((e) => e.acks.length > 0).length;
}

async function limitedSource(api: Api, name: string, limits: Record<string, unknown>): Promise<Source> {
  const source = await createSource(api, name, { shards: FAULT_SHARDS });
  const patched = await api.call('PATCH', `/v1/tenants/${source.tenantId}`, { rate_limits: limits });
  if (patched.status !== 200) throw new Error(`could not set rate limits on ${source.tenantId}: ${patched.status} ${JSON.stringify(patched.json)}`);
  return source;
}
