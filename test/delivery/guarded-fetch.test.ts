import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { EgressRefused, createGuardedFetch } from '../../src/delivery/guarded-fetch';
import { fakeDestination, silentDestination } from '../fixtures/fake-destination';

const controlUrl = (env as unknown as { CONTROL_URL: string }).CONTROL_URL;

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.unreachable('expected a rejection'),
    (error: unknown) => error,
  );
}

describe('guarded fetch', () => {
  it('throws EgressRefused without touching the network when the destination is private', async () => {
    const destination = fakeDestination();
    const guarded = createGuardedFetch({ allowlist: [], fetchImpl: destination.fetch });
    const error = await rejection(guarded('http://0x7f.1:8787/admin'));
    expect(error).toBeInstanceOf(EgressRefused);
    expect(error).toMatchObject({ name: 'EgressRefused', url: 'http://0x7f.1:8787/admin', reason: expect.stringContaining('loopback') });
    expect(destination.requests).toHaveLength(0);
  });

  it('fetches the normalised URL with redirect manual even when the caller asks to follow', async () => {
    const destination = fakeDestination(new Response(null, { status: 302, headers: { location: 'http://169.254.169.254/' } }));
    const guarded = createGuardedFetch({ allowlist: [], fetchImpl: destination.fetch });
    const response = await guarded('HTTPS://Example.COM/a/../hook', { method: 'POST', body: 'x', redirect: 'follow' });
    expect(destination.requests[0]).toMatchObject({ url: 'https://example.com/hook', method: 'POST', body: 'x', redirect: 'manual' });
    expect(response.status).toBe(302);
    expect(response.headers.get('location')).toBe('http://169.254.169.254/');
  });

  it('keeps only the first 1 KiB of a large body and stops reading the rest', async () => {
    let pulls = 0;
    let cancelled = false;
    const chunk = new Uint8Array(300).fill(0x61);
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulls++;
        controller.enqueue(chunk);
      },
      cancel() {
        cancelled = true;
      },
    });
    const destination = fakeDestination(new Response(endless, { status: 500, headers: { 'x-trace': 'abc' } }));
    const response = await createGuardedFetch({ allowlist: [], fetchImpl: destination.fetch })('https://example.com/');
    expect(response.status).toBe(500);
    expect(response.headers.get('x-trace')).toBe('abc');
    expect(await response.text()).toBe('a'.repeat(1024));
    expect(cancelled).toBe(true);
    expect(pulls).toBeLessThan(10);
  });

  it('answers a 204 with an empty body when the destination sends no content', async () => {
    const destination = fakeDestination(new Response(null, { status: 204 }));
    const response = await createGuardedFetch({ allowlist: [], fetchImpl: destination.fetch })('https://example.com/');
    expect(response.status).toBe(204);
    expect(await response.text()).toBe('');
  });

  it('rejects with a TimeoutError when the destination does not answer in time', async () => {
    const destination = silentDestination();
    const guarded = createGuardedFetch({ allowlist: [], timeoutMs: 50, fetchImpl: destination.fetch });
    const error = await rejection(guarded('https://example.com/'));
    expect(error).toMatchObject({ name: 'TimeoutError', message: 'no complete answer within 50 ms' });
    expect(destination.calls()).toBe(1);
  });

  it('rejects with a TimeoutError when the body stalls after the headers', async () => {
    const stalled = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('partial'));
      },
    });
    const destination = fakeDestination(new Response(stalled, { status: 200 }));
    const guarded = createGuardedFetch({ allowlist: [], timeoutMs: 50, fetchImpl: destination.fetch });
    expect(await rejection(guarded('https://example.com/'))).toMatchObject({ name: 'TimeoutError' });
  });

  it('aborts with the caller’s reason when the caller’s own signal fires first', async () => {
    const controller = new AbortController();
    const guarded = createGuardedFetch({ allowlist: [], fetchImpl: silentDestination().fetch });
    const pending = guarded('https://example.com/', { signal: controller.signal });
    controller.abort(new DOMException('hook deadline', 'AbortError'));
    expect(await rejection(pending)).toMatchObject({ name: 'AbortError', message: 'hook deadline' });
  });

  it('reaches a real local server only when its host:port is allow-listed', async () => {
    const { host } = new URL(controlUrl);
    const path = `/jwks/guarded-fetch-${crypto.randomUUID()}`;
    const document = JSON.stringify({ keys: [], padding: 'p'.repeat(3000) });
    expect((await fetch(`${controlUrl}${path}`, { method: 'PUT', body: document })).status).toBe(204);

    await expect(createGuardedFetch({ allowlist: [] })(`${controlUrl}${path}`)).rejects.toBeInstanceOf(EgressRefused);
    const response = await createGuardedFetch({ allowlist: [host] })(`${controlUrl}${path}`);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe(document.slice(0, 1024));
  });
});
