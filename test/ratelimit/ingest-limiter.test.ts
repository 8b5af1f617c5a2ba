/**
 * Ingest rate limits with the real Redis (through the Upstash REST server of the test set-up), with
 * Redis down or too slow (the Durable Object fallback answers), and without Redis configured.
 */
import { env } from 'cloudflare:workers';
import { afterEach, describe, expect, it } from 'vitest';
import { BREAKER_MS, redisTimeoutMs } from '../../src/lib/redis';
import { checkRate } from '../../src/ratelimit/check-rate';
import type { RateLimits } from '../../src/ratelimit/limits';
import { api, createSource, createTenant, ingest, makeEvent, type TestSource } from '../fixtures/api';

const testEnv = env as Env & { CONTROL_URL: string; UPSTASH_DIRECT_URL: string; REDIS_REQUIRED: string };
const withRedis = Boolean(testEnv.UPSTASH_REDIS_REST_URL);
/** CI (and any machine with a Redis) must run the Redis suites; only a local run without Redis skips them. */
const redisSuites = withRedis || testEnv.REDIS_REQUIRED === 'true';
const HOUR = 3600;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function limitedSource(limits: RateLimits): Promise<TestSource> {
  return createSource(await createTenant('limited', { rate_limits: limits }));
}

async function send(source: TestSource, count: number): Promise<Response[]> {
  const out: Response[] = [];
  for (let i = 0; i < count; i++) out.push(await ingest(source, makeEvent()));
  return out;
}

async function upstash(path: string, method = 'POST'): Promise<Response> {
  const res = await fetch(`${testEnv.CONTROL_URL}/upstash/${path}`, { method });
  expect(res.ok).toBe(true);
  return res;
}

/** Keys in the real Redis, read past the switchable link. */
async function redisKeys(pattern: string): Promise<string[]> {
  const res = await fetch(`${testEnv.UPSTASH_DIRECT_URL}/keys/${pattern}`, { headers: { authorization: `Bearer ${testEnv.UPSTASH_REDIS_REST_TOKEN}` } });
  return (await res.json<{ result: string[] }>()).result;
}

describe.skipIf(!redisSuites)('rate limits in Redis', () => {
  afterEach(async () => {
    await upstash('up');
  });

  it('runs against the real Redis of the test set-up', () => {
    expect(withRedis).toBe(true);
  });

  it('answers 429 rate_limited with Retry-After and RateLimit headers once a source is over its limit', async () => {
    const source = await limitedSource({ source: { requests: 3, window_seconds: HOUR } });
    const responses = await send(source, 5);
    expect(responses.map((r) => r.status)).toEqual([202, 202, 202, 429, 429]);
    expect(responses[0]!.headers.get('ratelimit-policy')).toBe(`"source";q=3;w=${HOUR}`);
    expect(responses[0]!.headers.get('ratelimit')).toMatch(/^"source";r=2;t=\d+$/);
    const refused = responses[3]!;
    expect(refused.headers.get('content-type')).toBe('application/problem+json');
    expect(await refused.json()).toMatchObject({ status: 429, code: 'rate_limited' });
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(Number(refused.headers.get('retry-after'))).toBeLessThanOrEqual(HOUR);
    expect(refused.headers.get('ratelimit')).toMatch(/^"source";r=0;t=\d+$/);
    // the counters live in Redis
    expect((await redisKeys(`sy:rl:s:${source.sourceId}:*`)).length).toBeGreaterThan(0);
  });

  it('limits a tenant over all its sources', async () => {
    const tenantId = await createTenant('limited', {
      rate_limits: { tenant: { requests: 3, window_seconds: HOUR }, source: { requests: 100, window_seconds: HOUR } },
    });
    const [a, b] = [await createSource(tenantId), await createSource(tenantId)];
    const statuses = [...(await send(a!, 2)), ...(await send(b!, 2))];
    expect(statuses.map((r) => r.status)).toEqual([202, 202, 202, 429]);
    expect(await statuses[3]!.json()).toMatchObject({ detail: expect.stringContaining('tenant limit of 3') });
    expect(statuses[0]!.headers.get('ratelimit-policy')).toBe(`"tenant";q=3;w=${HOUR}, "source";q=100;w=${HOUR}`);
    expect((await redisKeys(`sy:rl:t:${tenantId}:*`)).length).toBeGreaterThan(0);
  });

  it('makes one Redis round trip for both limits of a warm ingest', async () => {
    const tenantId = await createTenant('limited', {
      rate_limits: { tenant: { requests: 100, window_seconds: HOUR }, source: { requests: 100, window_seconds: HOUR } },
    });
    const source = await createSource(tenantId);
    await send(source, 2);
    await sleep(300);
    const before = await (await upstash('stats', 'GET')).json<{ requests: number }>();
    expect((await ingest(source, makeEvent())).status).toBe(202);
    const after = await (await upstash('stats', 'GET')).json<{ requests: number }>();
    expect(after.requests - before.requests).toBe(1);
  });

  it('applies changed limits from the next event on', async () => {
    const source = await createSource();
    expect((await send(source, 3)).map((r) => r.status)).toEqual([202, 202, 202]);
    const changed = await api('PATCH', `/v1/tenants/${source.tenantId}`, { rate_limits: { source: { requests: 1, window_seconds: HOUR } } });
    expect(changed).toMatchObject({ status: 200, body: { rate_limits: { source: { requests: 1, window_seconds: HOUR } } } });
    expect((await send(source, 2)).map((r) => r.status)).toEqual([202, 429]);
    const lifted = await api('PATCH', `/v1/tenants/${source.tenantId}`, { rate_limits: {} });
    expect(lifted.status).toBe(200);
    expect((await send(source, 2)).map((r) => r.status)).toEqual([202, 202]);
  });

  it("lets an admin give one source its own limit in place of the tenant's per-source rule, from the next event on", async () => {
    const source = await limitedSource({ source: { requests: 100, window_seconds: HOUR } });
    const sibling = await createSource(source.tenantId);
    expect((await ingest(source, makeEvent())).status).toBe(202);
    const path = `/v1/tenants/${source.tenantId}/sources/${source.sourceId}`;
    // a tenant token may rename the source but not change its limit
    const tenantToken = (await api<{ token: string }>('POST', `/v1/tenants/${source.tenantId}/tokens`, {})).body.token;
    const refused = await api('PATCH', path, { rate_limit: { requests: 1_000_000, window_seconds: 1 } }, tenantToken);
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ code: 'forbidden' });

    const set = await api('PATCH', path, { rate_limit: { requests: 2, window_seconds: HOUR } });
    expect(set.status).toBe(200);
    expect(set.body).toMatchObject({ rate_limit: { requests: 2, window_seconds: HOUR } });
    const statuses = (await send(source, 3)).map((r) => r.status);
    // the request before the change counts in the same window (and the first after it may count under
    // both the old and the new rule), so at most one more gets through
    expect(statuses.slice(1)).toEqual([429, 429]);
    const limited = await ingest(source, makeEvent());
    expect(limited.headers.get('ratelimit-policy')).toBe(`"source";q=2;w=${HOUR}`);
    // the tenant's rule still governs the other source
    expect((await send(sibling, 3)).map((r) => r.status)).toEqual([202, 202, 202]);

    const cleared = await api('PATCH', path, { rate_limit: null });
    expect(cleared.body).toMatchObject({ rate_limit: null });
    expect((await ingest(source, makeEvent())).status).toBe(202);
  });

  it('falls back to the Durable Object limiter when Redis is too slow, without stalling, then when it is down, and recovers', async () => {
    await sleep(BREAKER_MS); // a breaker opened by an earlier file would skip the slow call we want to watch
    await upstash('slow');
    const slow = await limitedSource({ source: { requests: 2, window_seconds: HOUR } });
    const started = Date.now();
    const first = await ingest(slow, makeEvent());
    expect(first.status).toBe(202);
    // the config cache gives up after the deadline and the breaker spares the limiter; the link holds requests 3 s
    expect(Date.now() - started).toBeLessThan(redisTimeoutMs(testEnv) + 1500);
    expect((await send(slow, 2)).map((r) => r.status)).toEqual([202, 429]);

    await sleep(BREAKER_MS);
    await upstash('down');
    const down = await limitedSource({ source: { requests: 2, window_seconds: HOUR } });
    const statuses = (await send(down, 4)).map((r) => r.status);
    expect(statuses).toEqual([202, 202, 429, 429]);

    await upstash('up');
    expect(await redisKeys(`sy:rl:s:${slow.sourceId}:*`)).toEqual([]);
    expect(await redisKeys(`sy:rl:s:${down.sourceId}:*`)).toEqual([]);
    await sleep(BREAKER_MS);
    const back = await limitedSource({ source: { requests: 1, window_seconds: HOUR } });
    expect((await send(back, 2)).map((r) => r.status)).toEqual([202, 429]);
    expect((await redisKeys(`sy:rl:s:${back.sourceId}:*`)).length).toBeGreaterThan(0);
  }, 40_000);
});

describe('rate limits without Redis', () => {
  it("counts in the tenant's Durable Object when Redis is not configured", async () => {
    const noRedis = { ...testEnv, UPSTASH_REDIS_REST_URL: undefined };
    const checks = [{ policy: 'source' as const, key: `s:src_${crypto.randomUUID()}`, rule: { requests: 2, window_seconds: HOUR } }];
    const tenantId = `tn_${crypto.randomUUID()}`;
    const decisions = [];
    for (let i = 0; i < 3; i++) decisions.push(await checkRate(noRedis, tenantId, checks));
    expect(decisions.map((d) => [d.backend, d.allowed])).toEqual([
      ['durable-object', true],
      ['durable-object', true],
      ['durable-object', false],
    ]);
    expect(decisions[2]!.states[0]).toMatchObject({ allowed: false, remaining: 0 });
  });

  it('refuses nothing, and asks no limiter, for a tenant without limits', async () => {
    const source = await createSource();
    const responses = await send(source, 5);
    expect(responses.map((r) => r.status)).toEqual([202, 202, 202, 202, 202]);
    expect(responses[0]!.headers.get('ratelimit')).toBeNull();
  });
});
