import { describe, expect, it } from 'vitest';
import { inexactIntegerIn } from '../../src/ingest/limits';
import { api, createSource, eventually, ingest, makeEvent } from '../fixtures/api';

type Problem = { code: string; detail: string };

describe('what is stored is what was sent', () => {
  it('refuses an integer JSON would round (past ±2^53) with 422 instead of storing other digits', async () => {
    const source = await createSource();
    const body = JSON.stringify(makeEvent({ data: { order: 1 } })).replace('"order":1', '"order":12345678901234567891');
    const res = await ingest(source, body);
    expect(res.status).toBe(422);
    const problem = (await res.json()) as Problem;
    expect(problem.code).toBe('invalid_event');
    expect(problem.detail).toContain('12345678901234567891');
    expect((await api<{ data: unknown[] }>('GET', `/v1/tenants/${source.tenantId}/events`)).body.data).toHaveLength(0);
  });

  it('stores integers a double holds exactly, however long, and digits inside strings', async () => {
    const source = await createSource();
    const body = JSON.stringify(makeEvent({ data: { id: '12345678901234567891' } })).replace(
      '"data":{',
      '"data":{"max":9007199254740991,"big":100000000000000000000,"neg":-9007199254740992,',
    );
    const res = await ingest(source, body);
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    const stored = await eventually(async () => {
      const read = await api<{ data: Record<string, unknown> }>('GET', `/v1/tenants/${source.tenantId}/events/${id}`);
      return read.status === 200 && read;
    });
    expect(stored.body.data).toEqual({ max: 9007199254740991, big: 1e20, neg: -9007199254740992, id: '12345678901234567891' });
  });

  it('finds the first inexact integer outside strings, skipping escaped quotes', () => {
    expect(inexactIntegerIn('{"a":"\\"12345678901234567891","b":[1,-12345678901234567891]}')).toBe('-12345678901234567891');
    expect(inexactIntegerIn('{"a":1.2345678901234567891,"b":1e400}')).toBeNull();
    expect(inexactIntegerIn('{"a":"12345678901234567891"}')).toBeNull();
  });

  it('refuses data_base64 that is not base64', async () => {
    const source = await createSource();
    const bad = makeEvent({ data: undefined, data_base64: 'not base64!' });
    delete bad.data;
    const res = await ingest(source, bad);
    expect(res.status).toBe(422);
    const good = makeEvent({ data_base64: btoa('hello') });
    delete good.data;
    expect((await ingest(source, good)).status).toBe(202);
  });
});
