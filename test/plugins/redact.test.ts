import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { redact } from '../../plugins/redact';
import type { PluginEvent } from '../../src/plugins/types';

const EVENT: PluginEvent = {
  specversion: '1.0',
  id: 'evt_1',
  source: 'urn:crm',
  type: 'customers.updated',
  subject: 'alice@example.com',
  email: 'alice@example.com',
  data: {
    card: { number: '4242424242424242', brand: 'visa' },
    users: [{ name: 'a', email: 'a@example.com' }, { name: 'b', email: 'b@example.com' }, { name: 'c' }],
    tokens: { github: 'ghp_1', stripe: 'sk_1' },
    'a/b': { '~x': 1 },
    list: [1, 2, 3, 4],
  },
};

function transform(config: unknown, event: PluginEvent = EVENT) {
  const log = { info: () => {}, warn: () => {} };
  return redact.transform(event, { tenantId: 'tn_test', config: redact.config.parse(config), log, signal: new AbortController().signal });
}

const data = (event: PluginEvent | null) => event?.data as Record<string, unknown>;

describe('redact transformer', () => {
  it('masks nested values with [REDACTED] when no mode is given', async () => {
    const out = await transform({ pointers: ['/data/card/number'] });
    expect(data(out).card).toEqual({ number: '[REDACTED]', brand: 'visa' });
    expect(out).toMatchObject({ id: 'evt_1', source: 'urn:crm', type: 'customers.updated' });
  });

  it('removes values instead of masking them when mode is remove', async () => {
    const out = await transform({ pointers: ['/data/card/number', '/subject'], mode: 'remove' });
    expect(data(out).card).toEqual({ brand: 'visa' });
    expect(out).not.toHaveProperty('subject');
  });

  it('matches every array element or object key with * when a pointer has a wildcard', async () => {
    const out = await transform({ pointers: ['/data/users/*/email', '/data/tokens/*'], mask: '***' });
    expect(data(out).users).toEqual([{ name: 'a', email: '***' }, { name: 'b', email: '***' }, { name: 'c' }]);
    expect(data(out).tokens).toEqual({ github: '***', stripe: '***' });
  });

  it('removes the array elements the pointers name, read against the original indices', async () => {
    const out = await transform({ pointers: ['/data/list/0', '/data/list/2', '/data/users/*/email'], mode: 'remove' });
    expect(data(out).list).toEqual([2, 4]);
    expect(data(out).users).toEqual([{ name: 'a' }, { name: 'b' }, { name: 'c' }]);
  });

  it('unescapes ~1 and ~0 in pointers and redacts extensions', async () => {
    const out = await transform({ pointers: ['/data/a~1b/~0x', '/email'] });
    expect(data(out)['a/b']).toEqual({ '~x': '[REDACTED]' });
    expect(out?.email).toBe('[REDACTED]');
  });

  it('ignores pointers to paths that are not there', async () => {
    const out = await transform({ pointers: ['/data/missing/deep', '/data/users/7/email', '/data/card/number/x', '/data/list/-'] });
    expect(out).toEqual(EVENT);
  });

  it('never mutates the input event', async () => {
    const input = structuredClone(EVENT);
    await transform({ pointers: ['/data/card/number', '/data/users/*', '/email'], mode: 'remove' }, input);
    await transform({ pointers: ['/data/users/*/email'] }, input);
    expect(input).toEqual(EVENT);
  });

  it('masks a key named __proto__ instead of leaving it in place', async () => {
    const event = { ...EVENT, data: JSON.parse('{"__proto__": {"secret": 1}, "ok": 2}') as unknown };
    const out = await transform({ pointers: ['/data/__proto__'] }, event);
    expect(JSON.stringify(out?.data)).toBe('{"__proto__":"[REDACTED]","ok":2}');
  });

  it('refuses pointers at identifying attributes or that are not JSON pointers when the config is parsed', () => {
    for (const pointer of ['/id', '/source', '/type', '/specversion', '/time', '/*', '', 'data/x', '/data/~2', '/data/~']) {
      expect(redact.config.safeParse({ pointers: [pointer] }).success, pointer).toBe(false);
    }
    expect(redact.config.safeParse({ pointers: [] }).success).toBe(false);
    expect(redact.config.safeParse({ pointers: ['/data'], mode: 'erase' }).success).toBe(false);
  });

  it('exports its config as JSON Schema for the catalog', () => {
    expect(z.toJSONSchema(redact.config, { io: 'input' })).toMatchObject({ type: 'object', required: ['pointers'] });
  });
});
