import { describe, expect, it } from 'vitest';
import { databaseRefusal, isConcurrencyRollback } from '../../src/http/database-refusal';

describe('database refusals', () => {
  it('answers a deadlock or serialization failure with 503 concurrent_change to retry, not 500', () => {
    for (const code of ['40P01', '40001']) {
      const error = Object.assign(new Error('deadlock detected'), { code });
      expect(isConcurrencyRollback(error)).toBe(true);
      expect(databaseRefusal(error)).toMatchObject({ status: 503, code: 'concurrent_change', headers: { 'retry-after': '1' } });
    }
    expect(isConcurrencyRollback(Object.assign(new Error('x'), { code: '23505' }))).toBe(false);
    expect(databaseRefusal(new Error('connection lost'))).toBeNull();
  });
});
