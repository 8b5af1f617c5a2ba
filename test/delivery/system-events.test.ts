import { describe, expect, it } from 'vitest';
import { systemEvent } from '../../src/delivery/system-events';

describe('system events', () => {
  it('replaces NUL and unpaired surrogates in quoted error texts so Postgres can store the event', async () => {
    const item = await systemEvent('switchyard.delivery.exhausted', 'dlv_x', 'sub_x', {
      last_error: 'script threw \u0000 at \ud800',
      note: 'a \\u0000 literal stays',
    });
    expect(item.json).not.toMatch(/(?<!\\)(?:\\\\)*\\u(?:0000|d[89a-f][0-9a-f]{2})/i);
    const event = JSON.parse(item.json) as { data: { last_error: string; note: string } };
    expect(event.data).toEqual({ last_error: 'script threw \ufffd at \ufffd', note: 'a \\u0000 literal stays' });
  });
});
