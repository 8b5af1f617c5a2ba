/**
 * The shell: sign-in from the fragment, the session-over screens, the navigation, and the routes.
 * Screens load lazily, so the first load is the shell and the screen it opens.
 */
import { lazy, type ReactNode, Suspense, useEffect, useMemo, useState } from 'react';
import { Loading } from './components/bits';
import { Layout } from './components/layout';
import { connect, UNAUTHORIZED } from './lib/api';
import { match, navigate, useLocation } from './lib/router';
import { signIn, signOut, type SignIn } from './lib/session';
import { SessionContext, useSession } from './lib/session-context';

const Tenants = lazy(() => import('./screens/tenants'));
const Events = lazy(() => import('./screens/events'));
const EventDetail = lazy(() => import('./screens/event-detail'));
const Deliveries = lazy(() => import('./screens/deliveries'));
const DeliveryDetail = lazy(() => import('./screens/delivery-detail'));
const Subscriptions = lazy(() => import('./screens/subscriptions'));
const SubscriptionDetail = lazy(() => import('./screens/subscription-detail'));
const SubscriptionNew = lazy(() => import('./screens/subscription-new'));
const Sources = lazy(() => import('./screens/sources'));
const EventTypes = lazy(() => import('./screens/event-types'));
const Plugins = lazy(() => import('./screens/plugins'));
const Metrics = lazy(() => import('./screens/metrics'));
const AuditLog = lazy(() => import('./screens/audit-log'));

export function App() {
  const [state, setState] = useState<SignIn>(() => signIn());
  useEffect(() => {
    const expire = () => setState((s) => (s.kind === 'signed-in' ? { kind: 'rejected', session: s.session } : s));
    window.addEventListener(UNAUTHORIZED, expire);
    // a new sign-in link pasted into this tab's address bar changes only the fragment
    const relink = () => {
      if (window.location.hash.includes('token=')) setState(signIn());
    };
    window.addEventListener('hashchange', relink);
    // the token's `exp` passing while the tab is open
    const timer = setInterval(
      () =>
        setState((s) =>
          s.kind === 'signed-in' && s.session.expiresAt !== null && s.session.expiresAt <= Date.now() ? { kind: 'expired', session: s.session } : s,
        ),
      15_000,
    );
    return () => {
      window.removeEventListener(UNAUTHORIZED, expire);
      window.removeEventListener('hashchange', relink);
      clearInterval(timer);
    };
  }, []);
  const session = state.kind === 'signed-in' ? state.session : null;
  useMemo(() => session && connect(session.token), [session]);

  if (state.kind !== 'signed-in') return <SignedOut state={state} />;
  return (
    <SessionContext.Provider value={state.session}>
      <Routes key={state.session.token} />
    </SessionContext.Provider>
  );
}

function SignedOut({ state }: { state: SignIn }) {
  const leave = () => {
    signOut();
    window.location.reload();
  };
  return (
    <main className="signed-out">
      <div className="card">
        <p className="brand">Switchyard</p>
        {state.kind === 'expired' ? (
          <>
            <h1>Your session has expired</h1>
            <p>
              The sign-in link or token this console was opened with is no longer valid
              {state.session.expiresAt ? ` (it expired ${new Date(state.session.expiresAt).toLocaleString()})` : ''}. Ask for a new link, or run{' '}
              <code>npm run dev</code> again for a fresh admin link.
            </p>
            <button type="button" onClick={leave}>
              Forget this session
            </button>
          </>
        ) : state.kind === 'rejected' ? (
          <>
            <h1>Your session has ended</h1>
            <p>
              The API no longer accepts the token this console was opened with (it was revoked, or the deployment's signing key changed). Ask for a new link.
            </p>
            <button type="button" onClick={leave}>
              Forget this session
            </button>
          </>
        ) : state.kind === 'invalid' ? (
          <>
            <h1>This sign-in link is not valid</h1>
            <p>The token in the link could not be read. Copy the whole link again.</p>
            <button type="button" onClick={leave}>
              Forget this session
            </button>
          </>
        ) : (
          <>
            <h1>Sign in</h1>
            <p>
              Open the console with a sign-in link: <code>npm run dev</code> prints one for an admin (<code>/console/#token=…</code>), and an admin can create
              portal links for a tenant.
            </p>
          </>
        )}
      </div>
    </main>
  );
}

const TENANT_SCREENS = [
  ['/tenants/:tenant/events', Events],
  ['/tenants/:tenant/events/:id', EventDetail],
  ['/tenants/:tenant/deliveries', Deliveries],
  ['/tenants/:tenant/deliveries/:id', DeliveryDetail],
  ['/tenants/:tenant/subscriptions', Subscriptions],
  ['/tenants/:tenant/subscriptions/new', SubscriptionNew],
  ['/tenants/:tenant/subscriptions/:id', SubscriptionDetail],
  ['/tenants/:tenant/sources', Sources],
  ['/tenants/:tenant/event-types', EventTypes],
  ['/tenants/:tenant/plugins', Plugins],
  ['/tenants/:tenant/metrics', Metrics],
  ['/tenants/:tenant/audit-log', AuditLog],
] as const;

function Routes() {
  const { path } = useLocation();
  const session = useSession();
  const home = session.scope === 'admin' ? '/tenants' : `/tenants/${session.tenant}/events`;
  useEffect(() => {
    if (path === '/' || (session.scope !== 'admin' && path === '/tenants') || /^\/tenants\/[^/]+$/.test(path)) {
      navigate(/^\/tenants\/[^/]+$/.test(path) ? `${path}/events` : home, { replace: true });
    }
  }, [path, home, session.scope]);

  let screen: ReactNode = null;
  let tenant: string | null = null;
  if (path === '/tenants' && session.scope === 'admin') screen = <Tenants />;
  for (const [pattern, Screen] of TENANT_SCREENS) {
    if (screen) break;
    const params = match(pattern, path);
    if (!params) continue;
    tenant = params.tenant!;
    screen = <Screen tenant={tenant} id={params.id ?? ''} />;
  }
  if (!screen && path !== '/' && !/^\/tenants(\/[^/]+)?$/.test(path)) {
    screen = (
      <div className="state empty">
        <h1>Nothing here</h1>
        <p>
          No screen lives at <code>/console{path}</code>.
        </p>
      </div>
    );
  }
  return (
    <Layout tenant={tenant}>
      <Suspense fallback={<Loading />}>{screen}</Suspense>
    </Layout>
  );
}
