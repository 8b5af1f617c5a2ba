import { describe, expect, it } from 'vitest';
import { EgressRefused } from '../../../src/delivery/guarded-fetch';
import { RESPONSE_BODY_LIMIT_BYTES, classifyError, classifyResponse, parseRetryAfter, truncateBody } from '../../../src/plugins/kit/classify';

const NOW = Date.parse('2026-03-01T12:00:00Z');
const answer = (status: number, headers: Record<string, string> = {}, body?: string) =>
  classifyResponse({ status, headers: new Headers(headers), body }, { now: NOW });

describe('response classification', () => {
  it('counts every 2xx as delivered and keeps the body', () => {
    for (const status of [200, 201, 202, 204, 299]) expect(answer(status).kind, String(status)).toBe('delivered');
    expect(answer(200, {}, 'ok')).toEqual({ kind: 'delivered', status: 200, responseBody: 'ok' });
  });

  it('reports gone when the destination answers 410', () => {
    expect(answer(410)).toEqual({ kind: 'gone', status: 410, error: 'destination answered 410 Gone' });
  });

  it('rejects redirects permanently instead of following them', () => {
    for (const status of [301, 302, 303, 307, 308]) {
      const outcome = answer(status, { location: 'http://169.254.169.254/latest/meta-data' });
      expect(outcome, String(status)).toMatchObject({ kind: 'rejected', status });
      expect(outcome.kind === 'rejected' && outcome.error).toContain('redirects are not followed');
    }
  });

  it('retries 408, 409, 425 and every 5xx', () => {
    for (const status of [408, 409, 425, 500, 501, 502, 504, 599]) expect(answer(status).kind, String(status)).toBe('retry');
  });

  it('rejects the other 4xx as permanent failures', () => {
    for (const status of [400, 401, 403, 404, 405, 413, 422, 451]) expect(answer(status).kind, String(status)).toBe('rejected');
  });

  it('retries 429 and 503 with Retry-After in seconds when the header is present', () => {
    expect(answer(429, { 'retry-after': '120' })).toMatchObject({ kind: 'retry', status: 429, retryAfterSeconds: 120 });
    expect(answer(503, { 'retry-after': ' 7 ' })).toMatchObject({ kind: 'retry', status: 503, retryAfterSeconds: 7 });
    expect(answer(429)).not.toHaveProperty('retryAfterSeconds');
  });

  it('reads Retry-After as an HTTP-date relative to now when it is one', () => {
    expect(answer(503, { 'retry-after': 'Sun, 01 Mar 2026 12:01:30 GMT' })).toMatchObject({ retryAfterSeconds: 90 });
    expect(answer(503, { 'retry-after': 'Sun, 01 Mar 2026 11:00:00 GMT' })).toMatchObject({ retryAfterSeconds: 0 });
  });

  it('caps Retry-After at one hour unless told otherwise', () => {
    expect(answer(429, { 'retry-after': '999999' })).toMatchObject({ retryAfterSeconds: 3600 });
    expect(answer(429, { 'retry-after': 'Fri, 01 Jan 2100 00:00:00 GMT' })).toMatchObject({ retryAfterSeconds: 3600 });
    const capped = classifyResponse({ status: 429, headers: new Headers({ 'retry-after': '900' }) }, { now: NOW, retryAfterCapSeconds: 60 });
    expect(capped).toMatchObject({ retryAfterSeconds: 60 });
  });

  it('ignores a Retry-After it cannot read, and on statuses other than 429 and 503', () => {
    for (const value of ['soon', '-5', '1.5', '2026-03-01T12:05:00Z', '']) {
      expect(parseRetryAfter(value, NOW), value).toBeUndefined();
    }
    expect(answer(500, { 'retry-after': '30' })).not.toHaveProperty('retryAfterSeconds');
  });

  it('truncates kept bodies to 1 KiB of UTF-8 without splitting a character', () => {
    const outcome = answer(500, {}, 'x'.repeat(5000));
    expect(outcome.kind === 'retry' && outcome.responseBody?.length).toBe(RESPONSE_BODY_LIMIT_BYTES);
    const euros = truncateBody('€'.repeat(1000)); // 3 bytes each
    expect(euros).toBe('€'.repeat(341));
    expect(new TextEncoder().encode(euros).length).toBeLessThanOrEqual(RESPONSE_BODY_LIMIT_BYTES);
    expect(truncateBody('short')).toBe('short');
  });
});

describe('error classification', () => {
  it('rejects permanently when the SSRF guard refused the destination', () => {
    const outcome = classifyError(new EgressRefused('http://127.0.0.1/', '127.0.0.1 is loopback (127/8)'));
    expect(outcome).toEqual({ kind: 'rejected', error: 'destination refused: 127.0.0.1 is loopback (127/8)' });
  });

  it('retries timeouts, aborts and network errors', () => {
    expect(classifyError(new DOMException('no answer within 15000 ms', 'TimeoutError'))).toEqual({
      kind: 'retry',
      error: 'timed out: no answer within 15000 ms',
    });
    expect(classifyError(new DOMException('stopped', 'AbortError'))).toMatchObject({ kind: 'retry', error: 'aborted: stopped' });
    expect(classifyError(new TypeError('Network connection lost.'))).toEqual({ kind: 'retry', error: 'network error: Network connection lost.' });
    expect(classifyError('a string')).toMatchObject({ kind: 'retry' });
  });
});
