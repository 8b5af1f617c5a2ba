/** The frame around every screen: who is signed in, the tenant's sections, sign out. */
import type { ReactNode } from 'react';
import { api, ok } from '../lib/api';
import { Link, useLocation } from '../lib/router';
import { can, type Resource, signOut } from '../lib/session';
import { useSession } from '../lib/session-context';
import { useResource } from '../lib/use-resource';

const SECTIONS: { path: string; label: string; resource: Resource }[] = [
  { path: 'events', label: 'Events', resource: 'events' },
  { path: 'deliveries', label: 'Deliveries', resource: 'deliveries' },
  { path: 'subscriptions', label: 'Subscriptions', resource: 'subscriptions' },
  { path: 'sources', label: 'Sources', resource: 'sources' },
  { path: 'event-types', label: 'Event types', resource: 'event-types' },
  { path: 'plugins', label: 'Plugins', resource: 'plugins' },
  { path: 'metrics', label: 'Metrics', resource: 'metrics' },
  { path: 'audit-log', label: 'Audit log', resource: 'audit-log' },
];

export function Layout({ tenant, children }: { tenant: string | null; children: ReactNode }) {
  const session = useSession();
  const { path } = useLocation();
  const tenantInfo = useResource(
    () => (tenant ? ok(api().GET('/v1/tenants/{tenantId}', { params: { path: { tenantId: tenant } } })) : Promise.resolve(null)),
    [tenant],
  );
  const who =
    session.scope === 'admin'
      ? 'Admin'
      : session.capabilities
        ? `Portal · ${session.capabilities.join(', ')}`
        : session.scopes
          ? `Tenant token · ${session.scopes.length} scope${session.scopes.length === 1 ? '' : 's'}`
          : 'Tenant token';
  const current = (to: string) => (path === to || path.startsWith(`${to}/`) ? 'page' : undefined);
  return (
    <div className="shell">
      <a className="skip" href="#main">
        Skip to content
      </a>
      <nav className="sidebar" aria-label="Console">
        <p className="brand">Switchyard</p>
        {session.scope === 'admin' ? (
          <ul>
            <li>
              <Link to="/tenants" aria-current={path === '/tenants' ? 'page' : undefined}>
                Tenants
              </Link>
            </li>
          </ul>
        ) : null}
        {tenant ? (
          <>
            <p className="nav-tenant" title={tenant}>
              <span className="muted small">Tenant</span>
              {tenantInfo.data ? <strong className="tenant-name">{tenantInfo.data.name}</strong> : null}
              <code>{tenant}</code>
            </p>
            <ul>
              {SECTIONS.filter((s) => can(session, s.resource, 'read')).map((s) => (
                <li key={s.path}>
                  <Link to={`/tenants/${tenant}/${s.path}`} aria-current={current(`/tenants/${tenant}/${s.path}`)}>
                    {s.label}
                  </Link>
                </li>
              ))}
            </ul>
          </>
        ) : null}
        <div className="sidebar-foot">
          <p className="small">{who}</p>
          {session.expiresAt ? <p className="small muted">until {new Date(session.expiresAt).toLocaleString()}</p> : null}
          <button
            type="button"
            className="link"
            onClick={() => {
              signOut();
              window.location.assign('/console/');
            }}
          >
            Sign out
          </button>
        </div>
      </nav>
      <main id="main" className="content">
        {children}
      </main>
    </div>
  );
}
