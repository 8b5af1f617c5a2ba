import { describe, expect, it } from 'vitest';
import { toIngestEvent } from '../../src/ingest/envelope';

const event = (time: string) => ({ specversion: '1.0', id: 'e-1', source: 'test', type: 'orders.created', time });
const verdict = (time: string) => {
  const result = toIngestEvent(event(time));
  return result.ok ? 'ok' : (result.problem.errors as { detail: string }[] | undefined)?.map((e) => e.detail).join('; ');
};

describe('the time attribute', () => {
  it('accepts RFC 3339 times whose UTC year is 1 to 9999, offsets included', () => {
    for (const time of [
      '2026-11-30T04:05:06.789Z',
      '2026-11-30T04:05:06+05:30',
      '0001-01-01T00:00:00Z',
      '0001-01-01T01:00:00+01:00',
      '0002-01-01T00:00:00+23:59',
      '9998-12-31T23:59:59-23:59',
      '9999-12-31T23:59:59Z',
    ])
      expect(verdict(time), time).toBe('ok');
  });

  it('refuses a time whose offset puts it before year 1 or after 9999 in UTC, and year 0', () => {
    for (const time of ['0001-01-01T00:00:00+01:00', '9999-12-31T23:59:59-01:00', '0000-06-01T00:00:00Z'])
      expect(verdict(time), time).toBe('time is out of range');
  });
});
