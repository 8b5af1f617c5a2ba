import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { setAttributes } from '../../plugins/set-attributes';
import { toIngestEvent } from '../../src/ingest/envelope';
import type { PluginEvent } from '../../src/plugins/types';

const EVENT: PluginEvent = {
  specversion: '1.0',
  id: 'evt_1',
  source: 'urn:shop',
  type: 'orders.created',
  subject: 'order/1',
  time: '2024-05-01T12:00:00Z',
  region: 'us',
  traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
  data: { total: 10 },
};

function transform(config: unknown, event: PluginEvent = EVENT) {
  const log = { info: () => {}, warn: () => {} };
  return setAttributes.transform(event, { tenantId: 'tn_test', config: setAttributes.config.parse(config), log, signal: new AbortController().signal });
}

describe('set-attributes transformer', () => {
  it('sets extensions and replaces type and subject when configured', async () => {
    const out = await transform({ set: { region: 'eu', rank: 2, priority: 'high', internal: true, type: 'shop.orders.created', subject: 'fixed' } });
    expect(out).toEqual({ ...EVENT, region: 'eu', rank: 2, priority: 'high', internal: true, type: 'shop.orders.created', subject: 'fixed' });
    expect(out && toIngestEvent(out).ok).toBe(true);
  });

  it('removes attributes and extensions and leaves the input untouched', async () => {
    const input = structuredClone(EVENT);
    const out = await transform({ remove: ['traceparent', 'subject', 'absent'] }, input);
    expect(out).not.toHaveProperty('traceparent');
    expect(out).not.toHaveProperty('subject');
    expect(out).toMatchObject({ id: 'evt_1', source: 'urn:shop', type: 'orders.created', data: { total: 10 } });
    expect(input).toEqual(EVENT);
  });

  it('refuses to set or remove id, source or specversion when the config is parsed', () => {
    for (const name of ['id', 'source', 'specversion']) {
      expect(setAttributes.config.safeParse({ set: { [name]: 'x' } }).success, `set ${name}`).toBe(false);
      expect(setAttributes.config.safeParse({ remove: [name] }).success, `remove ${name}`).toBe(false);
    }
  });

  it('refuses values that would make the event invalid when the config is parsed', () => {
    const refused: unknown[] = [
      { set: { type: 'nodots' } },
      { set: { priority: 2 } },
      { set: { priority: 'urgent' } },
      { set: { deliverat: 'tomorrow' } },
      { set: { expectedsequence: -1 } },
      { set: { expectedsequence: '01' } },
      { set: { partitionkey: 7 } },
      { set: { traceparent: 'x' } },
      { set: { type: 3 } },
      { set: { time: 'yesterday' } },
      { set: { subject: false } },
      { set: { 'Bad-Name': 'x' } },
      { set: { averyveryverylongextensionname: 'x' } },
      { set: { data: 'x' } },
      { remove: ['type'] },
      { remove: ['data'] },
      { set: { region: 'eu' }, remove: ['region'] },
      {},
    ];
    for (const config of refused) expect(setAttributes.config.safeParse(config).success, JSON.stringify(config)).toBe(false);
    expect(setAttributes.config.safeParse({ set: { time: '2024-05-01T12:00:00+02:00' } }).success).toBe(true);
  });

  it('exports its config as JSON Schema for the catalog', () => {
    expect(z.toJSONSchema(setAttributes.config, { io: 'input' })).toMatchObject({
      type: 'object',
      properties: { set: { type: 'object' }, remove: { type: 'array' } },
    });
  });
});
