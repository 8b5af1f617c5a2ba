import { describe, expect, it } from 'vitest';
import { captureRequest, finishExchange, HEADER_VALUE_LIMIT, MASK, REQUEST_BODY_LIMIT_BYTES, secretValues } from '../../src/delivery/exchange';
import { maskSecrets } from '../../src/plugins/secret-fields';
import { pluginType } from '../../src/plugins/registry';

describe('finishExchange', () => {
  it('masks a secret URL in the normalised spelling the guarded fetch sent', () => {
    const configured = 'https://HOOKS.example.com/services/T0/B0/abc';
    const sent = captureRequest(new URL(configured).href, { method: 'post', body: '{"text":"hi"}' });
    const done = finishExchange({ request: sent, response: null }, [configured]);
    expect(done.request).toMatchObject({ method: 'POST', url: MASK, body: '{"text":"hi"}', bodyTruncated: false });
  });

  it('masks a long secret header value before cutting it, and a secret echoed in the body', () => {
    const token = `Bearer ${'k'.repeat(HEADER_VALUE_LIMIT + 500)}`;
    const sent = captureRequest('https://example.com/h', {
      method: 'POST',
      headers: { authorization: token, 'webhook-signature': 'v1,abc' },
      body: `{"echo":"${token}"}`,
    });
    const done = finishExchange({ request: sent, response: null }, [token]);
    expect(done.request!.headers).toEqual({ authorization: MASK, 'webhook-signature': 'v1,abc' });
    expect(done.request!.body).toBe(`{"echo":"${MASK}"}`);
  });

  it('keeps 16 KiB of a large body and its original size', () => {
    const body = new TextEncoder().encode('a'.repeat(REQUEST_BODY_LIMIT_BYTES + 10));
    const done = finishExchange({ request: captureRequest('https://example.com/h', { method: 'POST', body }), response: null }, []);
    expect(done.request).toMatchObject({ bodyBytes: REQUEST_BODY_LIMIT_BYTES + 10, bodyTruncated: true });
    expect(done.request!.body).toHaveLength(REQUEST_BODY_LIMIT_BYTES);
  });

  it('finds the write-only values of a webhook config', () => {
    const config = { url: 'https://example.com/h', headers: { Authorization: 'Bearer x1', 'X-Other': 'y2' } };
    expect(secretValues(config, maskSecrets(pluginType('webhook'), config)).sort()).toEqual(['Bearer x1', 'y2']);
  });
});
