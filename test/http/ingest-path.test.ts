import { env } from 'cloudflare:workers';
import { describe, expect, it, vi } from 'vitest';
import { createApp } from '../../src/http/app';
import { call, createSource, ingest, makeEvent, signedHeaders } from '../fixtures/api';

// POST /v1/ingest/<id> skips the router (src/http/app.ts): what the middleware chain gives other routes it must still give
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const UNKNOWN_SOURCE = 'src_01ARZ3NDEKTSV4RRFFQ69G5FAV';

describe('POST /v1/ingest/{sourceId} outside the router', () => {
  it('echoes the client request id on a 202 and on a refusal, and makes one when the client sent none or a bad one', async () => {
    const source = await createSource();
    const accepted = await ingest(source, makeEvent(), undefined, { 'x-request-id': 'producer.7' });
    expect(accepted.status).toBe(202);
    expect(accepted.headers.get('x-request-id')).toBe('producer.7');
    expect(accepted.headers.get('content-type')).toBe('application/json');
    expect(await accepted.json()).toEqual({ id: expect.stringMatching(/^evt_/), sequence: 1, duplicate: false });

    const body = JSON.stringify(makeEvent());
    const forged = await call(`/v1/ingest/${source.sourceId}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/cloudevents+json',
        'x-request-id': 'padded==',
        ...(await signedHeaders('whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', body)),
      },
      body,
    });
    expect(forged.status).toBe(401);
    expect(forged.headers.get('x-request-id')).toBe('padded==');
    expect(await forged.json()).toMatchObject({ code: 'invalid_signature', request_id: 'padded==' });

    for (const id of [undefined, 'has space']) {
      const res = await ingest(source, makeEvent(), undefined, id ? { 'x-request-id': id } : {});
      expect(res.status).toBe(202);
      expect(res.headers.get('x-request-id')).toMatch(UUID);
    }
  });

  it('answers an unknown source 404 and an oversized body 413 as problems naming the request id', async () => {
    const unknown = await call(`/v1/ingest/${UNKNOWN_SOURCE}`, {
      method: 'POST',
      headers: { 'content-type': 'application/cloudevents+json', 'x-request-id': 'req-404' },
      body: JSON.stringify(makeEvent()),
    });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ code: 'source_not_found', request_id: 'req-404' });

    const huge = await call(`/v1/ingest/${UNKNOWN_SOURCE}`, {
      method: 'POST',
      headers: { 'content-type': 'application/cloudevents+json', 'x-request-id': 'req-413' },
      body: 'x'.repeat(1024 * 1024 + 1),
    });
    expect(huge.status).toBe(413);
    expect(huge.headers.get('x-request-id')).toBe('req-413');
    expect(await huge.json()).toMatchObject({ code: 'payload_too_large', request_id: 'req-413' });
  });

  it('leaves paths it does not own to the router: a trailing slash is not_found, another method 405', async () => {
    const slash = await call(`/v1/ingest/${UNKNOWN_SOURCE}/`, { method: 'POST', body: '{}' });
    expect(slash.status).toBe(404);
    expect(await slash.json()).toMatchObject({ code: 'not_found' });
    const get = await call(`/v1/ingest/${UNKNOWN_SOURCE}`);
    expect(get.status).toBe(405);
  });

  it('answers 500 internal_error when a setting is malformed, as every routed path does', async () => {
    const logged = vi.spyOn(console, 'error').mockImplementation(() => {});
    const ctx = { waitUntil: () => {}, passThroughOnException: () => {}, props: {} } as unknown as ExecutionContext;
    const res = await createApp().request(
      `/v1/ingest/${UNKNOWN_SOURCE}`,
      { method: 'POST', headers: { 'content-type': 'application/cloudevents+json' }, body: JSON.stringify(makeEvent()) },
      { ...env, REDIS_TIMEOUT_MS: 'soon' },
      ctx,
    );
    expect(res.status).toBe(500);
    expect(await res.json()).toMatchObject({ code: 'internal_error' });
    expect(logged.mock.calls.map((c) => String(c[0])).join('\n')).toContain('REDIS_TIMEOUT_MS');
    logged.mockRestore();
  });
});
