import { describe, expect, it } from 'vitest';
import { grants, scopeNeed } from '../../src/tenancy/scopes';

describe('scopes', () => {
  it('maps routes to scopes, with replays under deliveries and tokens for admins', () => {
    expect(scopeNeed('GET', [])).toEqual({ kind: 'tenant' });
    expect(scopeNeed('PATCH', [])).toEqual({ kind: 'admin' });
    expect(scopeNeed('POST', ['tokens'])).toEqual({ kind: 'admin' });
    expect(scopeNeed('GET', ['sources', 'src_1'])).toEqual({ kind: 'scope', scope: 'sources:read' });
    expect(scopeNeed('POST', ['replays'])).toEqual({ kind: 'scope', scope: 'deliveries:write' });
    expect(scopeNeed('DELETE', ['brand-new-thing'])).toEqual({ kind: 'scope', scope: 'brand-new-thing:write' });
  });

  it('grants write to readers of the same resource, everything to * and to tokens without scopes', () => {
    const tenant = (scopes?: string[]) => ({ scope: 'tenant' as const, tenant: 'tn_1', scopes });
    expect(grants(tenant(['events:read']), 'events:read')).toBe(true);
    expect(grants(tenant(['sources:write']), 'sources:read')).toBe(true);
    expect(grants(tenant(['sources:read']), 'sources:write')).toBe(false);
    expect(grants(tenant(['*']), 'plugins:write')).toBe(true);
    expect(grants(tenant(undefined), 'plugins:write')).toBe(true);
    expect(grants(tenant([]), 'events:read')).toBe(false);
  });
});
