import { describe, expect, it } from 'vitest';
import { MAX_VISITS, redact } from '../../plugins/redact';
import type { PluginEvent } from '../../src/plugins/types';

function transform(pointers: string[], data: unknown) {
  const event: PluginEvent = { specversion: '1.0', id: 'evt_1', source: 'urn:crm', type: 'customers.updated', data };
  const log = { info: () => {}, warn: () => {} };
  return redact.transform(event, { tenantId: 'tn_test', config: redact.config.parse({ pointers }), log, signal: new AbortController().signal });
}

describe('redact on large events', () => {
  it('walks long wildcard pointers without copying the path at every value', async () => {
    // ten pointers of 500 `*` over 50,000 items took 3.1 s per event before
    const data = Array.from({ length: 50_000 }, () => ({ a: 1, b: [2] }));
    const pointers = Array.from({ length: 10 }, (_, i) => `/data${'/*'.repeat(500)}/x${i}`);
    const out = await transform([...pointers, '/data/*/a', '/data/*/a'], data);
    expect(out).toMatchObject({ data: expect.arrayContaining([{ a: '[REDACTED]', b: [2] }]) });
    expect((out as PluginEvent).data).toHaveLength(50_000);
  });

  it('fails (closed) instead of running on when the pointers would visit more than MAX_VISITS values', async () => {
    const data = Array.from({ length: 50_000 }, () => ({ a: { b: { c: 1 } } }));
    const pointers = Array.from({ length: 100 }, (_, i) => `/data/*/*/*/*/x${i}`);
    await expect(transform(pointers, data)).rejects.toThrow(`more than ${MAX_VISITS} values`);
  });
});
