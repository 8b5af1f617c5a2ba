import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { webhook } from '../../plugins/webhook';
import { newEd25519Secret } from '../../src/plugins/kit/signing';
import type { ActionInput } from '../../src/plugins/types';
import { actionContext, cloudEvent, fakeDestination, silentDestination } from '../fixtures/fake-destination';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const URL_ = 'https://hooks.example.com/switchyard';
const input = (overrides: Partial<ActionInput> = {}): ActionInput => ({
  event: cloudEvent(),
  deliveryId: 'dlv_01',
  subscriptionId: 'sub_01',
  attempt: 1,
  secrets: [SECRET],
  ...overrides,
});
const config = (overrides: Record<string, unknown> = {}) => webhook.config.parse({ url: URL_, ...overrides });

describe('webhook action', () => {
  it('POSTs the event as a signed CloudEvent that the official verifier accepts', async () => {
    const destination = fakeDestination(new Response('thanks', { status: 202 }));
    const outcome = await webhook.execute(input(), actionContext(config({ headers: { Authorization: 'Bearer abc' } }), destination.fetch));
    expect(outcome).toEqual({ kind: 'delivered', status: 202, responseBody: 'thanks' });

    const [request] = destination.requests;
    expect(request).toMatchObject({ url: URL_, method: 'POST', redirect: 'manual' });
    expect(request?.headers.get('content-type')).toBe('application/cloudevents+json; charset=utf-8');
    expect(request?.headers.get('authorization')).toBe('Bearer abc');
    expect(request?.headers.get('user-agent')).toBe('Switchyard-Webhooks/1');
    expect(request?.headers.get('webhook-id')).toBe('dlv_01');
    expect(JSON.parse(request?.body ?? '')).toEqual(cloudEvent());
    const headers = Object.fromEntries(request?.headers ?? []);
    expect(new Webhook(SECRET).verify(request?.body ?? '', headers)).toEqual(cloudEvent());
  });

  it('keeps webhook-id equal to the delivery id when the delivery is retried', async () => {
    const destination = fakeDestination(new Response('', { status: 500 }), new Response('', { status: 200 }));
    const ctx = actionContext(config(), destination.fetch);
    expect(await webhook.execute(input({ attempt: 1 }), ctx)).toMatchObject({ kind: 'retry', status: 500 });
    expect(await webhook.execute(input({ attempt: 2 }), ctx)).toMatchObject({ kind: 'delivered', status: 200 });
    expect(destination.requests.map((r) => r.headers.get('webhook-id'))).toEqual(['dlv_01', 'dlv_01']);
  });

  it('signs with every secret during a rotation, including an Ed25519 one', async () => {
    const { secret: whsk } = await newEd25519Secret();
    const destination = fakeDestination();
    await webhook.execute(input({ secrets: [whsk, SECRET] }), actionContext(config(), destination.fetch));
    const signature = destination.requests[0]?.headers.get('webhook-signature') ?? '';
    expect(signature.split(' ').map((entry) => entry.split(',')[0])).toEqual(['v1a', 'v1']);
  });

  it('classifies the destination’s answer when it is not a success', async () => {
    const run = async (response: Response) => webhook.execute(input(), actionContext(config(), fakeDestination(response).fetch));
    expect(await run(new Response('bye', { status: 410 }))).toMatchObject({ kind: 'gone', status: 410 });
    expect(await run(new Response('slow down', { status: 429, headers: { 'retry-after': '30' } }))).toEqual({
      kind: 'retry',
      status: 429,
      error: 'destination answered 429',
      responseBody: 'slow down',
      retryAfterSeconds: 30,
    });
    expect(await run(new Response('bad', { status: 400 }))).toMatchObject({ kind: 'rejected', status: 400, responseBody: 'bad' });
    expect(await run(new Response('x'.repeat(4096), { status: 502 }))).toMatchObject({ kind: 'retry', responseBody: 'x'.repeat(1024) });
  });

  it('does not follow a redirect when the destination answers 307', async () => {
    const destination = fakeDestination(new Response(null, { status: 307, headers: { location: 'http://10.0.0.5/steal' } }));
    const outcome = await webhook.execute(input(), actionContext(config(), destination.fetch));
    expect(outcome).toMatchObject({ kind: 'rejected', status: 307, error: expect.stringContaining('redirects are not followed') });
    expect(destination.requests).toHaveLength(1);
  });

  it('rejects without sending anything when the URL points at a metadata address', async () => {
    const destination = fakeDestination();
    const outcome = await webhook.execute(input(), actionContext(config({ url: 'http://169.254.169.254/latest/' }), destination.fetch));
    expect(outcome).toMatchObject({ kind: 'rejected', error: expect.stringContaining('metadata') });
    expect(destination.requests).toHaveLength(0);
  });

  it('retries when the connection fails or the endpoint outlives timeout_ms', async () => {
    const broken = fakeDestination(new TypeError('Network connection lost.'));
    expect(await webhook.execute(input(), actionContext(config(), broken.fetch))).toEqual({ kind: 'retry', error: 'network error: Network connection lost.' });
    const silent = silentDestination();
    const started = Date.now();
    const outcome = await webhook.execute(input(), actionContext(config({ timeout_ms: 1000 }), silent.fetch));
    expect(outcome).toMatchObject({ kind: 'retry', error: expect.stringMatching(/^timed out/) });
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('rejects without sending anything when a subscription secret cannot sign', async () => {
    const destination = fakeDestination();
    const outcome = await webhook.execute(input({ secrets: ['not-a-secret'] }), actionContext(config(), destination.fetch));
    expect(outcome).toMatchObject({ kind: 'rejected', error: expect.stringContaining('cannot sign') });
    expect(destination.requests).toHaveLength(0);
  });

  it('refuses configs that would override delivery headers or leave http(s)', () => {
    expect(config()).toEqual({ url: URL_, timeout_ms: 15_000 });
    for (const name of ['webhook-id', 'Webhook-Signature', 'Content-Length', 'content-type', 'Host', 'Transfer-Encoding', 'connection', 'Upgrade', 'TE']) {
      expect(webhook.config.safeParse({ url: URL_, headers: { [name]: 'x' } }).success, name).toBe(false);
    }
    expect(webhook.config.safeParse({ url: URL_, headers: { 'bad name': 'x' } }).success).toBe(false);
    expect(webhook.config.safeParse({ url: URL_, headers: { 'x-ok': 'line\r\nbreak' } }).success).toBe(false);
    expect(webhook.config.safeParse({ url: 'ftp://example.com/' }).success).toBe(false);
    expect(webhook.config.safeParse({ url: URL_, timeout_ms: 999 }).success).toBe(false);
    expect(webhook.config.safeParse({ url: URL_, timeout_ms: 15_001 }).success).toBe(false);
    expect(webhook.config.safeParse({ url: URL_, headers: { 'x-api-key': 'k' }, timeout_ms: 5000 }).success).toBe(true);
  });
});
