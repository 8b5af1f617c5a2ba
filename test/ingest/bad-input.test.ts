import { describe, expect, it } from 'vitest';
import { call, createSource, ingest, makeEvent, signedHeaders, type TestSource } from '../fixtures/api';

async function problemOf(res: Response) {
  expect(res.headers.get('content-type')).toBe('application/problem+json');
  return res.json<{ status: number; code: string; detail: string; errors?: { pointer: string; detail: string }[] }>();
}

let shared: TestSource | undefined;
const source = async () => (shared ??= await createSource());

describe('ingest refuses bad input with problem details', () => {
  it('answers 400 malformed_json for a body that is not JSON', async () => {
    const res = await ingest(await source(), '{"specversion": "1.0",');
    expect(res.status).toBe(400);
    expect(await problemOf(res)).toMatchObject({ status: 400, code: 'malformed_json' });
  });

  it('answers 415 for a content type that is not a CloudEvent mode', async () => {
    const res = await ingest(await source(), JSON.stringify(makeEvent()), 'text/plain');
    expect(res.status).toBe(415);
    expect(await problemOf(res)).toMatchObject({ code: 'unsupported_media_type' });
  });

  it('answers 413 for a body over 1 MiB, declared or streamed', async () => {
    const s = await source();
    const big = JSON.stringify(makeEvent({ data: 'x'.repeat(1024 * 1024) }));
    const declared = await ingest(s, big);
    expect(declared.status).toBe(413);
    expect(await problemOf(declared)).toMatchObject({ code: 'payload_too_large' });

    const chunk = new TextEncoder().encode('x'.repeat(64 * 1024));
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 20; i++) controller.enqueue(chunk);
        controller.close();
      },
    });
    const streamed = await call(`/v1/ingest/${s.sourceId}`, { method: 'POST', headers: { 'content-type': 'application/cloudevents+json' }, body: stream });
    expect(streamed.status).toBe(413);
  });

  it('answers 401 for missing, garbled, expired and future signatures', async () => {
    const s = await source();
    const body = JSON.stringify(makeEvent());
    const post = (headers: Record<string, string>) =>
      call(`/v1/ingest/${s.sourceId}`, { method: 'POST', headers: { 'content-type': 'application/cloudevents+json', ...headers }, body });

    const missing = await post({});
    expect(missing.status).toBe(401);
    expect(await problemOf(missing)).toMatchObject({ code: 'missing_signature' });

    const good = await signedHeaders(s.secret, body);
    const garbled = await post({ ...good, 'webhook-signature': 'v1,AAAA' });
    expect(await problemOf(garbled)).toMatchObject({ status: 401, code: 'invalid_signature' });

    const now = Math.floor(Date.now() / 1000);
    const expired = await post(await signedHeaders(s.secret, body, { timestamp: now - 600 }));
    expect(await problemOf(expired)).toMatchObject({ status: 401, code: 'stale_signature' });
    const future = await post(await signedHeaders(s.secret, body, { timestamp: now + 600 }));
    expect(await problemOf(future)).toMatchObject({ status: 401, code: 'stale_signature' });

    const otherSource = await createSource();
    const wrongSecret = await post(await signedHeaders(otherSource.secret, body));
    expect(await problemOf(wrongSecret)).toMatchObject({ status: 401, code: 'invalid_signature' });
  });

  it('answers 404 source_not_found for unknown and malformed source ids', async () => {
    const s = await source();
    for (const id of ['src_01JD0000000000000000000000', 'nope', '%00']) {
      const res = await ingest({ ...s, sourceId: id }, makeEvent());
      expect(res.status).toBe(404);
      expect(await problemOf(res)).toMatchObject({ code: 'source_not_found' });
    }
  });

  it('answers 422 with field errors for a CloudEvent missing required attributes', async () => {
    const res = await ingest(await source(), { specversion: '0.3', data: {} });
    expect(res.status).toBe(422);
    const problem = await problemOf(res);
    expect(problem.code).toBe('invalid_event');
    expect(problem.errors!.map((e) => e.pointer).sort()).toEqual(['/id', '/source', '/specversion', '/type']);
  });

  it('answers 422 when the type is not dot-notation or an extension name is illegal', async () => {
    const s = await source();
    const notDotted = await problemOf(await ingest(s, makeEvent({ type: 'created' })));
    expect(notDotted).toMatchObject({ status: 422, errors: [{ pointer: '/type' }] });
    const badExtension = await problemOf(await ingest(s, makeEvent({ Bad_Name: 'x' })));
    expect(badExtension).toMatchObject({ status: 422, errors: [{ pointer: '/Bad_Name' }] });
  });

  it('answers 422 for events Postgres could not store (NUL characters)', async () => {
    const res = await ingest(await source(), makeEvent({ data: { note: 'a\u0000b' } }));
    expect(res.status).toBe(422);
    expect(await problemOf(res)).toMatchObject({ code: 'invalid_event' });
  });

  it('answers 422 invalid_batch for an empty batch, an oversized batch and a non-array', async () => {
    const s = await source();
    for (const body of [[], Array.from({ length: 1001 }, () => ({})), makeEvent()]) {
      const res = await ingest(s, body, 'application/cloudevents-batch+json');
      expect(res.status).toBe(422);
      expect(await problemOf(res)).toMatchObject({ code: 'invalid_batch' });
    }
  });
});
