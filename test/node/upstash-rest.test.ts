import { createHash, randomUUID } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { Ratelimit } from '@upstash/ratelimit';
import { Redis } from '@upstash/redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeCommand, parseReply, ReplyError, startUpstashRest, type UpstashRest } from '../../scripts/lib/upstash-rest.ts';

const token = `test-${randomUUID()}`;
const prefix = `upstash-rest-test:${randomUUID()}:`;
const key = (name: string): string => `${prefix}${name}`;

let server: UpstashRest;
/** The client as the runtime builds it: auto-pipelining, base64 responses, JSON deserialisation. */
let redis: Redis;
/** Every default switched off: single-command endpoint, plain responses, raw strings. */
let plain: Redis;

async function call(path: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

beforeAll(async () => {
  server = await startUpstashRest({ token });
  redis = new Redis({ url: server.url, token, enableTelemetry: false });
  plain = new Redis({
    url: server.url,
    token,
    enableTelemetry: false,
    enableAutoPipelining: false,
    responseEncoding: false,
    automaticDeserialization: false,
  });
});

afterAll(async () => {
  const keys = await plain.keys(`${prefix}*`);
  if (keys.length) await plain.del(...keys);
  await server.close();
});

describe('RESP2 codec', () => {
  it('encodes a command as an array of bulk strings', () => {
    expect(encodeCommand(['SET', 'k', Buffer.from('v\r\n')]).toString()).toBe('*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\nv\r\n\r\n');
  });

  it('parses every reply type, and nothing until a reply is complete', () => {
    const wire = Buffer.from('*7\r\n+OK\r\n-ERR bad\r\n:-42\r\n$5\r\nh\r\nlo\r\n$-1\r\n*-1\r\n*2\r\n*1\r\n$0\r\n\r\n:1\r\n');
    for (let cut = 0; cut < wire.length; cut++) expect(parseReply(wire.subarray(0, cut), 0)).toBeUndefined();
    const parsed = parseReply(wire, 0);
    expect(parsed?.end).toBe(wire.length);
    const [ok, error, int, bulk, nullBulk, nullArray, nested] = parsed!.value as unknown[];
    expect(ok).toBe('OK');
    expect(error).toBeInstanceOf(ReplyError);
    expect((error as ReplyError).message).toBe('ERR bad');
    expect(int).toBe(-42);
    expect(bulk).toEqual(Buffer.from('h\r\nlo'));
    expect(nullBulk).toBeNull();
    expect(nullArray).toBeNull();
    expect(nested).toEqual([[Buffer.alloc(0)], 1]);
  });
});

describe('upstash REST server with @upstash/redis', () => {
  it('sets and gets, with and without automatic deserialisation', async () => {
    await redis.set(key('obj'), { a: 1, b: ['x'] });
    expect(await redis.get(key('obj'))).toEqual({ a: 1, b: ['x'] });
    expect(await plain.get(key('obj'))).toBe('{"a":1,"b":["x"]}');
    await redis.set(key('num'), 42);
    expect(await redis.get(key('num'))).toBe(42);
    expect(await plain.get(key('num'))).toBe('42');
    expect(await redis.get(key('missing'))).toBeNull();
  });

  it('base64-encodes results when asked, status replies included', async () => {
    const value = 'héllo ✓ 🚀 T0s=';
    expect(await redis.set(key('utf8'), value)).toBe('OK');
    expect(await redis.get(key('utf8'))).toBe(value);
    expect(await plain.get(key('utf8'))).toBe(value);
    expect(await redis.type(key('utf8'))).toBe('string');
    expect(await redis.ping()).toBe('PONG');
    expect(await redis.mget(key('utf8'), key('missing'))).toEqual([value, null]);

    const raw = await call('', ['GET', key('utf8')], { 'Upstash-Encoding': 'base64' });
    expect(raw).toEqual({ status: 200, json: { result: Buffer.from(value).toString('base64') } });
    expect(await call('', ['SET', key('utf8'), value], { 'Upstash-Encoding': 'base64' })).toEqual({ status: 200, json: { result: 'OK' } });
  });

  it('runs incr, expire and ttl', async () => {
    expect(await redis.incr(key('counter'))).toBe(1);
    expect(await redis.incrby(key('counter'), 4)).toBe(5);
    expect(await redis.ttl(key('counter'))).toBe(-1);
    expect(await redis.expire(key('counter'), 100)).toBe(1);
    const ttl = await plain.ttl(key('counter'));
    expect(ttl).toBeGreaterThan(90);
    expect(ttl).toBeLessThanOrEqual(100);
    expect(await redis.ttl(key('missing'))).toBe(-2);
  });

  it('runs hash commands', async () => {
    expect(await redis.hset(key('hash'), { name: 'ada', age: 36, tags: ['a', 'b'] })).toBe(3);
    expect(await redis.hget(key('hash'), 'name')).toBe('ada');
    expect(await redis.hincrby(key('hash'), 'age', 1)).toBe(37);
    expect(await redis.hgetall(key('hash'))).toEqual({ name: 'ada', age: 37, tags: ['a', 'b'] });
    expect(await redis.hdel(key('hash'), 'tags')).toBe(1);
    // without deserialisation the client hands back Redis's flat field/value array
    expect(await plain.hgetall(key('hash'))).toEqual(['name', 'ada', 'age', '37']);
  });

  it('runs a pipeline in order, errors per command', async () => {
    const results = await redis.pipeline().set(key('p'), 'v').incr(key('p-n')).incr(key('p-n')).get(key('p')).exec();
    expect(results).toEqual(['OK', 1, 2, 'v']);

    const kept = await redis.pipeline().incr(key('p')).get(key('p')).exec({ keepErrors: true });
    expect(kept[0]?.error).toMatch(/not an integer/);
    expect(kept[1]).toEqual({ error: undefined, result: 'v' });
    await expect(redis.pipeline().incr(key('p')).exec()).rejects.toThrow(/Command 1 \[ incr \] failed: ERR value is not an integer/);
  });

  it('keeps replies matched to requests under concurrency', async () => {
    const n = 200;
    await Promise.all(Array.from({ length: n }, (_, i) => plain.set(key(`c${i}`), `value-${i}`)));
    const values = await Promise.all(Array.from({ length: n }, (_, i) => plain.get(key(`c${i}`))));
    expect(values).toEqual(Array.from({ length: n }, (_, i) => `value-${i}`));
    expect(server.stats().connections).toBeGreaterThan(1);

    // arrives from Redis in many socket chunks
    const big = 'x'.repeat(2 * 1024 * 1024) + '✓';
    await plain.set(key('big'), big);
    const [a, b] = await Promise.all([redis.get<string>(key('big')), plain.get(key('big'))]);
    expect(a === big && b === big).toBe(true);
  });

  it('replaces a connection Redis dropped', async () => {
    const { json } = await call('', ['CLIENT', 'ID']);
    const { result: id } = json as { result: number };
    expect(await call('', ['CLIENT', 'KILL', 'ID', String(id), 'SKIPME', 'no'])).toEqual({ status: 200, json: { result: 1 } });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await plain.set(key('after-kill'), 'ok')).toBe('OK');
    expect(await redis.get(key('after-kill'))).toBe('ok');
  });

  it('runs multi-exec atomically', async () => {
    const runs = await Promise.all(Array.from({ length: 50 }, () => redis.multi().incr(key('tx')).incr(key('tx')).get(key('tx')).exec()));
    for (const [first, second, read] of runs) {
      // without atomicity another transaction's INCR could land between these three
      expect(second).toBe(Number(first) + 1);
      expect(read).toBe(second);
    }
    expect(await redis.get(key('tx'))).toBe(100);

    const aborted = await call('/multi-exec', [['SET', key('tx-abort'), '1'], ['NOPE']]);
    expect(aborted.status).toBe(400);
    expect(aborted.json).toEqual({ error: expect.stringMatching(/^EXECABORT .*unknown command/) });
    expect(await redis.exists(key('tx-abort'))).toBe(0);

    const runtime = await call('/multi-exec', [
      ['SET', key('tx-rt'), 'x'],
      ['INCR', key('tx-rt')],
    ]);
    expect(runtime).toEqual({ status: 200, json: [{ result: 'OK' }, { error: expect.stringMatching(/not an integer/) }] });
  });

  it('runs eval, script load and evalsha', async () => {
    const script = 'return {KEYS[1], ARGV[1], tonumber(ARGV[2]) + 1, redis.call("INCR", KEYS[1])}';
    expect(await redis.eval(script, [key('ev')], ['a', 41])).toEqual([key('ev'), 'a', 42, 1]);
    const sha = await redis.scriptLoad(script);
    expect(sha).toMatch(/^[0-9a-f]{40}$/);
    expect(await redis.evalsha(sha, [key('ev')], ['b', 1])).toEqual([key('ev'), 'b', 2, 2]);
    await expect(plain.evalsha('0'.repeat(40), [], [])).rejects.toThrow(/NOSCRIPT/);
  });

  it("accepts the Upstash-only shebang flag @upstash/ratelimit uses, under the client's SHA1", async () => {
    const script = `#!lua flags=allow-key-locking,no-writes\nreturn {ARGV[1], ${Date.now()}}`;
    const sha = createHash('sha1').update(script).digest('hex');
    await expect(redis.evalsha(sha, [], ['x'])).rejects.toThrow(/NOSCRIPT/);
    expect(await redis.evalRo(script, [], ['a'])).toEqual(['a', expect.any(Number)]);
    expect(await redis.evalsha(sha, [], ['b'])).toEqual(['b', expect.any(Number)]);
    expect(await redis.scriptLoad(script)).toBe(sha);
    expect(await redis.scriptExists(sha)).toEqual([1]);
  });

  it('answers 401 to a wrong token', async () => {
    const wrong = new Redis({ url: server.url, token: 'wrong', enableTelemetry: false, enableAutoPipelining: false });
    await expect(wrong.get(key('x'))).rejects.toThrow(/Unauthorized/);
    expect((await call('', ['GET', 'x'], { authorization: 'Bearer wrong' })).status).toBe(401);
    expect((await fetch(`${server.url}/get/x`)).status).toBe(401);
  });

  it('answers 400 with the Redis error to a failing command', async () => {
    await plain.set(key('str'), 'x');
    await expect(plain.incr(key('str'))).rejects.toThrow(/ERR value is not an integer or out of range, command was: \["incr"/);
    await expect(redis.incr(key('str'))).rejects.toThrow(/Command failed: ERR value is not an integer/);
    expect(await call('', ['HGET', key('str'), 'f'])).toEqual({ status: 400, json: { error: expect.stringMatching(/^WRONGTYPE/) } });
    expect((await call('', 'not json')).status).toBe(400);
    expect((await call('', ['SUBSCRIBE', 'x'])).status).toBe(400);
  });

  it('serves path-style commands', async () => {
    const auth = { authorization: `Bearer ${token}` };
    const set = await fetch(`${server.url}/set/${encodeURIComponent(key('path/1'))}/bar?EX=100`, { headers: auth });
    expect(await set.json()).toEqual({ result: 'OK' });
    expect(await (await fetch(`${server.url}/get/${encodeURIComponent(key('path/1'))}?_token=${token}`)).json()).toEqual({ result: 'bar' });
    expect(await redis.ttl(key('path/1'))).toBeGreaterThan(90);

    const bytes = Buffer.from([0, 1, 2, 255, 254, 10, 13]);
    await fetch(`${server.url}/set/${encodeURIComponent(key('bin'))}`, { method: 'POST', headers: auth, body: bytes });
    const got = await fetch(`${server.url}/get/${encodeURIComponent(key('bin'))}`, { headers: { ...auth, 'Upstash-Encoding': 'base64' } });
    expect(await got.json()).toEqual({ result: bytes.toString('base64') });
  });
});

describe('@upstash/ratelimit through the server', () => {
  it('limits with a sliding window after 5 calls', async () => {
    const limiter = new Ratelimit({ redis, limiter: Ratelimit.slidingWindow(5, '10 s'), prefix: key('rl-sliding'), ephemeralCache: false });
    const results = [];
    for (let i = 0; i < 7; i++) results.push(await limiter.limit('client-a'));
    expect(results.map((r) => r.success)).toEqual([true, true, true, true, true, false, false]);
    expect(results[4]?.remaining).toBe(0);
    expect((await limiter.limit('client-b')).success).toBe(true);
  });

  it('limits with a fixed window after 3 calls', async () => {
    const limiter = new Ratelimit({ redis: plain, limiter: Ratelimit.fixedWindow(3, '10 s'), prefix: key('rl-fixed'), ephemeralCache: false });
    const results = [];
    for (let i = 0; i < 5; i++) results.push(await limiter.limit('client-a'));
    expect(results.map((r) => r.success)).toEqual([true, true, true, false, false]);
    expect(results[0]?.limit).toBe(3);
    expect(results[3]?.reset).toBeGreaterThan(Date.now());
  });
});

describe('when Redis is not there', () => {
  it('answers 503 quickly when the connection is refused', async () => {
    const down = await startUpstashRest({ token, redisUrl: 'redis://127.0.0.1:1' });
    try {
      const client = new Redis({ url: down.url, token, enableTelemetry: false });
      const started = Date.now();
      await expect(client.get('x')).rejects.toThrow(/Redis unavailable/);
      expect(Date.now() - started).toBeLessThan(1000);
      const res = await fetch(down.url, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: '["GET","x"]' });
      expect(res.status).toBe(503);
      expect(await res.json()).toEqual({ error: expect.stringMatching(/ECONNREFUSED/) });
      expect(down.stats().unavailable).toBe(2);
    } finally {
      await down.close();
    }
  });

  it('answers 503 after timeoutMs when Redis does not reply', async () => {
    const sockets = new Set<Socket>();
    const silent: Server = createServer((socket) => void sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const address = silent.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const hung = await startUpstashRest({ token, redisUrl: `redis://127.0.0.1:${port}`, timeoutMs: 300 });
    try {
      const started = Date.now();
      const res = await fetch(`${hung.url}/get/x`, { headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(503);
      expect(await res.json()).toEqual({ error: expect.stringMatching(/did not answer within 300 ms/) });
      expect(Date.now() - started).toBeLessThan(2000);
    } finally {
      await hung.close();
      for (const socket of sockets) socket.destroy();
      silent.close();
    }
  });
});
