/** Ingest sources: create one with a verifier from the catalog, rotate its secret, a signed curl command. */
import { type FormEvent, useState } from 'react';
import { CopyText, Empty, ErrorBox, Id, Loaded, PageHeader, Time } from '../components/bits';
import { Pager, useCursor } from '../components/pager';
import { api, type components, ok } from '../lib/api';
import { can, canSecrets } from '../lib/session';
import { useSession } from '../lib/session-context';
import { knownSourceSecrets, rememberSourceSecret } from '../lib/sign';
import { useResource } from '../lib/use-resource';

type Source = components['schemas']['Source'];

export default function Sources({ tenant }: { tenant: string }) {
  const session = useSession();
  const pages = useCursor(tenant);
  const list = useResource(
    () => ok(api().GET('/v1/tenants/{tenantId}/sources', { params: { path: { tenantId: tenant }, query: { cursor: pages.cursor, limit: 50 } } })),
    [tenant, pages.cursor],
  );
  const [creating, setCreating] = useState(false);
  const [secrets, setSecrets] = useState<Record<string, string>>(knownSourceSecrets());
  const [error, setError] = useState<Error | null>(null);
  const keep = (id: string, secret: string) => {
    rememberSourceSecret(id, secret);
    setSecrets(knownSourceSecrets());
  };
  const rotate = async (source: Source) => {
    setError(null);
    try {
      const rotated = await ok(
        api().POST('/v1/tenants/{tenantId}/sources/{sourceId}/rotate-secret', { params: { path: { tenantId: tenant, sourceId: source.id } }, body: {} }),
      );
      keep(source.id, rotated.secret);
    } catch (err) {
      setError(err as Error);
    }
  };
  return (
    <>
      <PageHeader title="Sources">
        {can(session, 'sources', 'write') ? (
          <button type="button" className="primary" onClick={() => setCreating(!creating)} aria-expanded={creating}>
            New source
          </button>
        ) : null}
      </PageHeader>
      {creating ? (
        <CreateSource
          tenant={tenant}
          onCreated={(s) => {
            if (s.secret) keep(s.id, s.secret);
            setCreating(false);
            list.reload();
          }}
        />
      ) : null}
      {error ? <ErrorBox error={error} /> : null}
      <Loaded resource={list} what="Loading sources">
        {(page) =>
          page.data.length === 0 ? (
            <Empty>
              <p>No sources yet. A source is where a producer sends events; each has its own ingest URL and signing secret.</p>
            </Empty>
          ) : (
            <>
              {page.data.map((s) => (
                <article key={s.id} className="panel source" aria-label={`Source ${s.name}`}>
                  <header className="row spread">
                    <h2>{s.name}</h2>
                    {canSecrets(session) && s.verifier.plugin_id === null ? (
                      <button type="button" onClick={() => rotate(s)}>
                        Rotate secret
                      </button>
                    ) : null}
                  </header>
                  <dl className="facts">
                    <dt>Id</dt>
                    <dd>
                      <Id id={s.id} />
                    </dd>
                    <dt>Ingest URL</dt>
                    <dd>
                      <code>{s.ingest_url}</code> <CopyText text={s.ingest_url} label="Copy URL" />
                    </dd>
                    <dt>Verifier</dt>
                    <dd>
                      <code>{s.verifier.type}</code>
                    </dd>
                    <dt>Created</dt>
                    <dd>
                      <Time at={s.created_at} />
                    </dd>
                  </dl>
                  {secrets[s.id] ? <SecretAndCurl source={s} secret={secrets[s.id]!} /> : null}
                </article>
              ))}
              <Pager page={pages.page} nextCursor={page.next_cursor} onNext={pages.next} onPrevious={pages.previous} />
            </>
          )
        }
      </Loaded>
    </>
  );
}

function SecretAndCurl({ source, secret }: { source: Source; secret: string }) {
  const standard = source.verifier.type === 'standard-webhooks';
  const key = standard ? [...atob(secret.replace(/^whsec_/, ''))].map((c) => c.charCodeAt(0).toString(16).padStart(2, '0')).join('') : '';
  const curl = [
    `url='${source.ingest_url}'`,
    `key='${key}'`,
    'id="msg_$(openssl rand -hex 12)"',
    'ts=$(date +%s)',
    `body=$(printf '{"specversion":"1.0","id":"%s","source":"switchyard/console","type":"demo.greeting","time":"%s","data":{"hello":"world"}}' "$id" "$(date -u +%Y-%m-%dT%H:%M:%SZ)")`,
    `sig=$(printf '%s' "$id.$ts.$body" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$key" -binary | openssl base64 -A)`,
    `curl -sS "$url" -H 'content-type: application/cloudevents+json' -H "webhook-id: $id" -H "webhook-timestamp: $ts" -H "webhook-signature: v1,$sig" --data-raw "$body"`,
  ].join('\n');
  return (
    <div className="secret">
      <p>
        Signing secret (this tab only; it is not shown again once the tab closes): <code className="wrap">{secret}</code>{' '}
        <CopyText text={secret} label="Copy secret" />
      </p>
      {standard ? (
        <>
          <p>Send a signed event from a terminal (bash + openssl):</p>
          {/* biome-ignore lint/a11y/noNoninteractiveTabindex: a scrollable region must be reachable by keyboard (axe scrollable-region-focusable) */}
          <section className="json-box" tabIndex={0} aria-label="Signed curl command">
            <pre>{curl}</pre>
          </section>
          <CopyText text={curl} label="Copy command" />
        </>
      ) : null}
    </div>
  );
}

function CreateSource({ tenant, onCreated }: { tenant: string; onCreated: (s: components['schemas']['CreatedSource']) => void }) {
  const catalog = useResource(() => ok(api().GET('/v1/plugins')).then((c) => c.data.filter((p) => p.kind === 'verifier')), []);
  const [name, setName] = useState('');
  const [verifier, setVerifier] = useState('standard-webhooks');
  const [secret, setSecret] = useState('');
  const [config, setConfig] = useState('{}');
  const [error, setError] = useState<Error | null>(null);
  const chosen = catalog.data?.find((p) => p.id === verifier);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      const parsed = JSON.parse(config || '{}') as Record<string, unknown>;
      onCreated(
        await ok(
          api().POST('/v1/tenants/{tenantId}/sources', {
            params: { path: { tenantId: tenant } },
            body: { name: name.trim(), verifier: { type: verifier, config: parsed, ...(secret ? { secret } : {}) } },
          }),
        ),
      );
    } catch (err) {
      setError(err as Error);
    }
  };
  return (
    <form className="panel form" onSubmit={submit} aria-label="New source">
      <label>
        Name
        <input value={name} onChange={(e) => setName(e.target.value)} required maxLength={200} placeholder="billing-service" />
      </label>
      <label>
        Verifier
        <select value={verifier} onChange={(e) => setVerifier(e.target.value)}>
          {(catalog.data ?? [{ id: 'standard-webhooks', description: '' }]).map((p) => (
            <option key={p.id} value={p.id}>
              {p.id}
            </option>
          ))}
        </select>
      </label>
      {chosen?.description ? <p className="muted small">{chosen.description}</p> : null}
      <label>
        Provider secret (optional; empty: a new one is generated)
        <input value={secret} onChange={(e) => setSecret(e.target.value)} autoComplete="off" placeholder="whsec_…" />
      </label>
      <label>
        Verifier config (JSON)
        <textarea rows={3} spellCheck={false} value={config} onChange={(e) => setConfig(e.target.value)} />
      </label>
      {error ? <ErrorBox error={error} /> : null}
      <button type="submit" className="primary" disabled={!name.trim()}>
        Create source
      </button>
    </form>
  );
}
