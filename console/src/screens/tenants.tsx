/** Admin: every tenant, search by name, create one, mint a tenant token for one. */
import { type FormEvent, useState } from 'react';
import type { paths } from '@switchyard/client';
import { CopyText, Empty, ErrorBox, Id, Loaded, PageHeader, Time } from '../components/bits';
import { Pager, useCursor } from '../components/pager';
import { api, ok } from '../lib/api';
import { Link, navigate, setQuery, useLocation } from '../lib/router';
import { useResource } from '../lib/use-resource';

type TokenBody = NonNullable<paths['/v1/tenants/{tenantId}/tokens']['post']['requestBody']>['content']['application/json'];
type TokenScope = NonNullable<TokenBody['scopes']>[number];
const SCOPES: TokenScope[] = [
  'events:read',
  'deliveries:read',
  'deliveries:write',
  'subscriptions:read',
  'subscriptions:write',
  'sources:read',
  'sources:write',
  'event-types:read',
  'event-types:write',
  'plugins:read',
  'plugins:write',
  'metrics:read',
  'audit-log:read',
  'secrets:write',
];
const CAPABILITIES = [
  ['manage', 'manage: create and edit subscriptions and sources, retry deliveries'],
  ['secrets', 'secrets: rotate (and so see) signing secrets'],
] as const;

export default function Tenants() {
  const { query } = useLocation();
  const name = query.get('name') ?? '';
  const [search, setSearch] = useState(name);
  const pages = useCursor(name);
  const list = useResource(
    () => ok(api().GET('/v1/tenants', { params: { query: { name: name || undefined, cursor: pages.cursor, limit: 25 } } })),
    [name, pages.cursor],
  );
  const [creating, setCreating] = useState(false);
  const [tokenFor, setTokenFor] = useState<string | null>(null);
  const [portalFor, setPortalFor] = useState<string | null>(null);

  return (
    <>
      <PageHeader title="Tenants">
        <button type="button" className="primary" onClick={() => setCreating(!creating)} aria-expanded={creating}>
          New tenant
        </button>
      </PageHeader>
      {creating ? <CreateTenant onCreated={(id) => navigate(`/tenants/${id}/events`)} /> : null}
      <form
        className="filters"
        aria-label="Search tenants"
        onSubmit={(e) => {
          e.preventDefault();
          setQuery({ name: search.trim() || undefined });
        }}
      >
        <label>
          Name contains
          <input type="search" value={search} onChange={(e) => setSearch(e.target.value)} placeholder="acme" />
        </label>
        <button type="submit">Search</button>
      </form>
      <Loaded resource={list} what="Loading tenants">
        {(page) =>
          page.data.length === 0 ? (
            <Empty>{name ? <p>No tenant's name contains “{name}”.</p> : <p>No tenants yet. Create the first one with “New tenant”.</p>}</Empty>
          ) : (
            <>
              <table>
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">Id</th>
                    <th scope="col">Created</th>
                    <th scope="col">
                      <span className="visually-hidden">Actions</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {page.data.map((t) => (
                    <tr key={t.id}>
                      <td>
                        <Link to={`/tenants/${t.id}/events`}>{t.name}</Link>
                      </td>
                      <td>
                        <Id id={t.id} />
                      </td>
                      <td>
                        <Time at={t.created_at} />
                      </td>
                      <td className="row-actions">
                        <button
                          type="button"
                          onClick={() => (setPortalFor(portalFor === t.id ? null : t.id), setTokenFor(null))}
                          aria-expanded={portalFor === t.id}
                        >
                          Portal link
                        </button>
                        <button
                          type="button"
                          onClick={() => (setTokenFor(tokenFor === t.id ? null : t.id), setPortalFor(null))}
                          aria-expanded={tokenFor === t.id}
                        >
                          Mint token
                        </button>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
              {portalFor ? <PortalLink tenant={portalFor} name={page.data.find((t) => t.id === portalFor)?.name ?? portalFor} /> : null}
              {tokenFor ? <MintToken tenant={tokenFor} name={page.data.find((t) => t.id === tokenFor)?.name ?? tokenFor} /> : null}
              <Pager page={pages.page} nextCursor={page.next_cursor} onNext={pages.next} onPrevious={pages.previous} />
            </>
          )
        }
      </Loaded>
    </>
  );
}

function CreateTenant({ onCreated }: { onCreated: (id: string) => void }) {
  const [name, setName] = useState('');
  const [error, setError] = useState<Error | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const tenant = await ok(api().POST('/v1/tenants', { body: { name: name.trim() } }));
      onCreated(tenant.id);
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="panel" onSubmit={submit} aria-label="New tenant">
      <label>
        Name
        <input value={name} onChange={(e) => setName(e.target.value)} required maxLength={200} placeholder="Acme Inc." />
      </label>
      <button type="submit" className="primary" disabled={busy || !name.trim()}>
        Create tenant
      </button>
      {error ? <ErrorBox error={error} /> : null}
    </form>
  );
}

function MintToken({ tenant, name }: { tenant: string; name: string }) {
  const [scopes, setScopes] = useState<TokenScope[]>([]);
  const [ttl, setTtl] = useState(3600);
  const [result, setResult] = useState<{ token: string; expires_at: string } | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      setResult(
        await ok(
          api().POST('/v1/tenants/{tenantId}/tokens', {
            params: { path: { tenantId: tenant } },
            body: { scopes: scopes.length ? scopes : undefined, ttl_seconds: ttl },
          }),
        ),
      );
    } catch (err) {
      setError(err as Error);
    }
  };
  const link = result ? `${window.location.origin}/console/#token=${result.token}` : '';
  return (
    <form className="panel" onSubmit={submit} aria-label={`Mint a token for ${name}`}>
      <h2>Mint a token for {name}</h2>
      <fieldset>
        <legend>Scopes (none checked: full access to the tenant)</legend>
        <div className="checks">
          {SCOPES.map((s) => (
            <label key={s} className="check">
              <input
                type="checkbox"
                checked={scopes.includes(s)}
                onChange={(e) => setScopes(e.target.checked ? [...scopes, s] : scopes.filter((x) => x !== s))}
              />
              {s}
            </label>
          ))}
        </div>
      </fieldset>
      <label>
        Lifetime (seconds)
        <input type="number" min={60} max={2592000} value={ttl} onChange={(e) => setTtl(Number(e.target.value))} />
      </label>
      <button type="submit" className="primary">
        Mint token
      </button>
      {error ? <ErrorBox error={error} /> : null}
      {result ? (
        <div className="secret" role="status">
          <p>
            Token (expires <Time at={result.expires_at} />) — shown only now:
          </p>
          <code className="wrap">{result.token}</code> <CopyText text={result.token} label="Copy token" />
          <p>
            Console sign-in link for this token: <CopyText text={link} label="Copy link" />
          </p>
        </div>
      ) : null}
    </form>
  );
}

type Capability = (typeof CAPABILITIES)[number][0];

function PortalLink({ tenant, name }: { tenant: string; name: string }) {
  const [capabilities, setCapabilities] = useState<Capability[]>(['manage']);
  const [ttl, setTtl] = useState(3600);
  const [result, setResult] = useState<{ url: string; expires_at: string } | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      setResult(
        await ok(
          api().POST('/v1/tenants/{tenantId}/portal-links', {
            params: { path: { tenantId: tenant } },
            body: { ttl_seconds: ttl, capabilities: ['read', ...capabilities] },
          }),
        ),
      );
    } catch (err) {
      setError(err as Error);
    }
  };
  return (
    <form className="panel" onSubmit={submit} aria-label={`Portal link for ${name}`}>
      <h2>Portal link for {name}</h2>
      <p className="muted small">A short-lived sign-in to this console limited to this tenant, for the tenant's own people. It always grants read.</p>
      <fieldset>
        <legend>Capabilities</legend>
        {CAPABILITIES.map(([c, label]) => (
          <label key={c} className="check">
            <input
              type="checkbox"
              checked={capabilities.includes(c)}
              onChange={(e) => setCapabilities(e.target.checked ? [...capabilities, c] : capabilities.filter((x) => x !== c))}
            />
            {label}
          </label>
        ))}
      </fieldset>
      <label>
        Lifetime (seconds, at most a day)
        <input type="number" min={60} max={86400} value={ttl} onChange={(e) => setTtl(Number(e.target.value))} />
      </label>
      <button type="submit" className="primary">
        Create portal link
      </button>
      {error ? <ErrorBox error={error} /> : null}
      {result ? (
        <div className="secret" role="status">
          <p>
            Portal link (expires <Time at={result.expires_at} />
            ):
          </p>
          <code className="wrap" data-testid="portal-url">
            {result.url}
          </code>{' '}
          <CopyText text={result.url} label="Copy link" />
        </div>
      ) : null}
    </form>
  );
}
