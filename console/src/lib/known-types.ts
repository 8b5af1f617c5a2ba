import { api, ok } from './api';
import { can, type Session } from './session';

/** Event types the tenant has: registered ones and those of stored events (for pickers). */
export async function knownTypes(session: Session, tenant: string): Promise<string[]> {
  const found = new Set<string>();
  const tenantId = tenant;
  const [types, events] = await Promise.all([
    can(session, 'event-types', 'read')
      ? ok(api().GET('/v1/tenants/{tenantId}/event-types', { params: { path: { tenantId }, query: { limit: 100 } } })).catch(() => null)
      : null,
    can(session, 'events', 'read')
      ? ok(api().GET('/v1/tenants/{tenantId}/events', { params: { path: { tenantId }, query: { limit: 100 } } })).catch(() => null)
      : null,
  ]);
  for (const t of types?.data ?? []) found.add(t.type);
  for (const e of events?.data ?? []) found.add(e.type);
  return [...found].sort();
}
