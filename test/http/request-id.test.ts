import { describe, expect, it } from 'vitest';
import { call } from '../fixtures/api';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('x-request-id', () => {
  it('echoes the client id on the response when it is short and plain', async () => {
    for (const id of ['abc-123', 'trace.span_01', 'padded==', 'a'.repeat(64)]) {
      const res = await call('/healthz', { headers: { 'x-request-id': id } });
      expect(res.headers.get('x-request-id'), id).toBe(id);
    }
  });

  it('answers with a new UUID when the client id is too long or holds other characters', async () => {
    for (const id of ['a'.repeat(65), 'has space', 'semi;colon', 'quote"d', 'slash/ed', 'per%2Fcent', 'colon:ed']) {
      const res = await call('/healthz', { headers: { 'x-request-id': id } });
      expect(res.headers.get('x-request-id'), id).toMatch(UUID);
    }
    expect((await call('/healthz')).headers.get('x-request-id')).toMatch(UUID);
  });

  it('names the same id in the header and the problem body when a request fails', async () => {
    const notFound = await call('/no-such-route', { headers: { 'x-request-id': 'req.404' } });
    expect(notFound.status).toBe(404);
    expect(notFound.headers.get('x-request-id')).toBe('req.404');
    expect(await notFound.json()).toMatchObject({ code: 'not_found', request_id: 'req.404' });

    const unauthorized = await call('/v1/tenants', { headers: { 'x-request-id': 'req-401' } });
    expect(unauthorized.status).toBe(401);
    expect(unauthorized.headers.get('x-request-id')).toBe('req-401');
    expect(await unauthorized.json()).toMatchObject({ request_id: 'req-401' });
  });
});
