import { generateKeyPairSync, sign } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startReceiver, type Receiver, type ReceivedRequest } from '../../scripts/lib/receiver.ts';
import { signatureHeaders } from '../../scripts/lib/standard-webhooks.ts';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
let receiver: Receiver;

const post = (path: string, body = '{}', headers: Record<string, string> = {}) =>
  fetch(`${receiver.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });

async function control<T>(method: string, path: string, body?: unknown): Promise<{ status: number; json: T | null }> {
  const res = await fetch(`${receiver.url}/_control/${path}`, { method, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as T) : null };
}

beforeAll(async () => {
  receiver = await startReceiver();
});
afterAll(() => receiver.close());
beforeEach(() => receiver.reset());

describe('local webhook receiver', () => {
  it('records a request and answers 200 when no behaviour is set', async () => {
    const res = await post('/hook?x=1', '{"a":1}', { 'x-custom': 'yes' });
    expect(res.status).toBe(200);
    expect(receiver.received).toHaveLength(1);
    expect(receiver.received[0]).toMatchObject({ path: '/hook', method: 'POST', query: '?x=1', body: '{"a":1}', verified: null });
    expect(receiver.received[0]?.headers['x-custom']).toBe('yes');
  });

  it('answers from the scripted queue in order, then with the default', async () => {
    receiver.setBehaviour('/flaky', {
      responses: [
        { status: 503, headers: { 'retry-after': '1' } },
        { status: 500, body: 'boom' },
      ],
      default: { status: 204 },
    });
    const first = await post('/flaky');
    expect(first.status).toBe(503);
    expect(first.headers.get('retry-after')).toBe('1');
    const second = await post('/flaky');
    expect([second.status, await second.text()]).toEqual([500, 'boom']);
    expect((await post('/flaky')).status).toBe(204);
    expect((await post('/flaky')).status).toBe(204);
  });

  it('marks v1 signatures as verified when they match the registered secret', async () => {
    receiver.setBehaviour('/signed', { secret: SECRET });
    const body = '{"type":"orders.created"}';
    await post('/signed', body, signatureHeaders(SECRET, 'msg_1', body));
    await post('/signed', body, signatureHeaders('whsec_' + Buffer.from('another secret!!').toString('base64'), 'msg_2', body));
    await post('/signed', body, signatureHeaders(SECRET, 'msg_3', body, Date.now() - 10 * 60_000));
    await post('/signed', body);
    expect(receiver.received.map((r) => r.verified)).toEqual([true, false, false, false]);
  });

  it('marks v1a signatures as verified when a whpk_ key is registered', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x ?? '', 'base64url');
    receiver.setBehaviour('/ed', { secret: `whpk_${raw.toString('base64')}` });
    const body = '{"a":1}';
    const timestamp = String(Math.floor(Date.now() / 1000));
    const signature = sign(null, Buffer.from(`dlv_1.${timestamp}.${body}`), privateKey).toString('base64');
    const headers = { 'webhook-id': 'dlv_1', 'webhook-timestamp': timestamp };
    await post('/ed', body, { ...headers, 'webhook-signature': `v1,AAAA v1a,${signature}` });
    await post('/ed', '{"a":2}', { ...headers, 'webhook-signature': `v1a,${signature}` });
    expect(receiver.received.map((r) => r.verified)).toEqual([true, false]);
  });

  it('delays the answer when a response asks for it', async () => {
    receiver.setBehaviour('/slow', { default: { status: 200, delayMs: 150 } });
    const started = Date.now();
    await post('/slow');
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  });

  it('resets the connection instead of answering when a response says reset', async () => {
    receiver.setBehaviour('/reset', { responses: [{ reset: true }] });
    await expect(post('/reset')).rejects.toThrow();
    expect((await post('/reset')).status).toBe(200);
    expect(receiver.received).toHaveLength(2);
  });

  it('waits for requests that have not arrived yet and gives up after its timeout', async () => {
    const waiting = receiver.waitFor('/later', 2, 2000);
    await post('/later');
    await post('/later');
    expect(await waiting).toHaveLength(2);
    await expect(receiver.waitFor('/never', 1, 50)).rejects.toThrow(/0 of 1 requests/);
  });
});

describe('receiver control API', () => {
  it('sets a behaviour with a secret and reports what arrived when driven over HTTP', async () => {
    expect((await control('POST', 'behaviour', { path: '/ctl', responses: [{ status: 429 }], secret: SECRET })).status).toBe(204);
    const body = '{"n":1}';
    expect((await post('/ctl', body, signatureHeaders(SECRET, 'msg_1', body))).status).toBe(429);
    expect((await post('/ctl', body)).status).toBe(200);
    const { status, json } = await control<{ received: ReceivedRequest[] }>('GET', 'received?path=/ctl');
    expect(status).toBe(200);
    expect(json?.received.map((r) => [r.body, r.verified])).toEqual([
      [body, true],
      [body, false],
    ]);
  });

  it('answers wait with 200 once enough requests arrived and 408 otherwise', async () => {
    const waiting = control<{ received: ReceivedRequest[] }>('GET', 'wait?path=/w&count=1&timeout_ms=2000');
    await post('/w');
    expect(await waiting).toMatchObject({ status: 200, json: { received: [{ path: '/w' }] } });
    expect(await control('GET', 'wait?path=/w&count=2&timeout_ms=50')).toMatchObject({ status: 408 });
  });

  it('refuses a malformed behaviour with 400 and never records control requests', async () => {
    expect((await control('POST', 'behaviour', { path: 'no-slash' })).status).toBe(400);
    expect((await control('POST', 'behaviour', { path: '/x', responses: [{ status: 42 }] })).status).toBe(400);
    expect((await control('GET', 'nope')).status).toBe(404);
    expect(receiver.received).toHaveLength(0);
  });

  it('forgets behaviours and requests when reset over HTTP', async () => {
    receiver.setBehaviour('/gone', { default: { status: 410 } });
    await post('/gone');
    expect((await control('POST', 'reset')).status).toBe(204);
    expect(receiver.received).toHaveLength(0);
    expect((await post('/gone')).status).toBe(200);
  });
});
