/** Plugins: the catalog of types, the tenant's instances, configuring one from its JSON Schema, and a dry run. */
import { type FormEvent, useEffect, useRef, useState } from 'react';
import { Empty, ErrorBox, Id, Loaded, PageHeader } from '../components/bits';
import { JsonView } from '../components/json-view';
import { SchemaForm } from '../components/schema-form';
import { api, type components, ok } from '../lib/api';
import { can } from '../lib/session';
import { useSession } from '../lib/session-context';
import { useResource } from '../lib/use-resource';

type PluginType = components['schemas']['PluginType'];
type Instance = components['schemas']['PluginInstance'];

export default function Plugins({ tenant }: { tenant: string }) {
  const session = useSession();
  const catalog = useResource(() => ok(api().GET('/v1/plugins')).then((c) => c.data), []);
  const instances = useResource(
    () => ok(api().GET('/v1/tenants/{tenantId}/plugins', { params: { path: { tenantId: tenant }, query: { limit: 100 } } })),
    [tenant],
  );
  const [creating, setCreating] = useState<PluginType | null>(null);
  const [open, setOpen] = useState<string | null>(null);
  const writable = can(session, 'plugins', 'write');
  return (
    <>
      <PageHeader title="Plugins" />
      <h2>Instances</h2>
      <Loaded resource={instances} what="Loading plugin instances">
        {(page) =>
          page.data.length === 0 ? (
            <Empty>
              <p>No plugin instances. Register one from the catalog below: validators and transformers run on ingest, actions deliver events.</p>
            </Empty>
          ) : (
            <table>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Type</th>
                  <th scope="col">Kind</th>
                  <th scope="col">Event types</th>
                  <th scope="col">State</th>
                </tr>
              </thead>
              <tbody>
                {page.data.map((p) => (
                  <tr key={p.id}>
                    <td>
                      <button type="button" className="link" onClick={() => setOpen(open === p.id ? null : p.id)} aria-expanded={open === p.id}>
                        {p.name}
                      </button>
                    </td>
                    <td>
                      <code>{p.type}</code>
                    </td>
                    <td>{p.kind}</td>
                    <td>
                      {p.event_types.map((t) => (
                        <code key={t} className="chip">
                          {t}
                        </code>
                      ))}
                    </td>
                    <td>{p.enabled ? <span className="badge badge-delivered">enabled</span> : <span className="badge badge-failed">disabled</span>}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </Loaded>
      {open && instances.data ? (
        <InstancePanel
          tenant={tenant}
          instance={instances.data.data.find((p) => p.id === open)!}
          type={catalog.data?.find((t) => t.id === instances.data!.data.find((p) => p.id === open)?.type)}
          writable={writable}
          onChanged={instances.reload}
        />
      ) : null}
      {creating ? (
        <CreateInstance
          tenant={tenant}
          type={creating}
          onDone={() => {
            setCreating(null);
            instances.reload();
          }}
        />
      ) : null}
      <h2>Catalog</h2>
      <Loaded resource={catalog} what="Loading the catalog">
        {(types) => (
          <ul className="catalog">
            {types.map((t) => (
              <li key={t.id} className="panel">
                <div className="row spread">
                  <strong>
                    <code>{t.id}</code>
                  </strong>
                  <span className="badge">{t.kind}</span>
                </div>
                <p className="small">{t.description}</p>
                {writable && t.kind !== 'verifier' ? (
                  <button type="button" onClick={() => setCreating(t)}>
                    Add {t.id}
                  </button>
                ) : null}
              </li>
            ))}
          </ul>
        )}
      </Loaded>
    </>
  );
}

function CreateInstance({ tenant, type, onDone }: { tenant: string; type: PluginType; onDone: () => void }) {
  const [name, setName] = useState(type.id);
  const [config, setConfig] = useState<Record<string, unknown>>({});
  const [types, setTypes] = useState('**');
  const [error, setError] = useState<Error | null>(null);
  const form = useRef<HTMLFormElement>(null);
  // the form opens above the catalog the button was clicked in
  useEffect(() => {
    form.current?.scrollIntoView({ block: 'start' });
    form.current?.querySelector('input')?.focus();
  }, []);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      const event_types = types
        .split(',')
        .map((t) => t.trim())
        .filter(Boolean);
      await ok(api().POST('/v1/tenants/{tenantId}/plugins', { params: { path: { tenantId: tenant } }, body: { type: type.id, name, config, event_types } }));
      onDone();
    } catch (err) {
      setError(err as Error);
    }
  };
  return (
    <form ref={form} className="panel form" onSubmit={submit} aria-label={`New ${type.id} instance`}>
      <h2>
        New <code>{type.id}</code> ({type.kind})
      </h2>
      <label>
        Name (lowercase, digits, <code>_ . -</code>)
        <input value={name} onChange={(e) => setName(e.target.value)} required pattern="[a-z0-9][a-z0-9_.\-]*" />
      </label>
      <label>
        Event types (comma-separated patterns)
        <input value={types} onChange={(e) => setTypes(e.target.value)} />
      </label>
      <SchemaForm schema={type.config_schema} value={config} onChange={setConfig} />
      {error ? <ErrorBox error={error} /> : null}
      <div className="row">
        <button type="submit" className="primary">
          Register
        </button>
        <button type="button" onClick={onDone}>
          Cancel
        </button>
      </div>
    </form>
  );
}

function InstancePanel({
  tenant,
  instance,
  type,
  writable,
  onChanged,
}: {
  tenant: string;
  instance: Instance;
  type?: PluginType;
  writable: boolean;
  onChanged: () => void;
}) {
  const [config, setConfig] = useState<Record<string, unknown>>(instance.config);
  const [error, setError] = useState<Error | null>(null);
  const [sample, setSample] = useState(
    JSON.stringify({ specversion: '1.0', id: 'sample-1', source: 'switchyard/console', type: 'orders.created', data: { amount: 42 } }, null, 2),
  );
  const [verdict, setVerdict] = useState<components['schemas']['PluginTestVerdict'] | null>(null);
  const [took, setTook] = useState<number | null>(null);
  const path = { tenantId: tenant, pluginId: instance.id };
  const save = async (body: { config?: Record<string, unknown>; enabled?: boolean }) => {
    setError(null);
    try {
      await ok(api().PATCH('/v1/tenants/{tenantId}/plugins/{pluginId}', { params: { path }, body }));
      onChanged();
    } catch (err) {
      setError(err as Error);
    }
  };
  const dryRun = async () => {
    setError(null);
    setVerdict(null);
    try {
      const run = await ok(
        api().POST('/v1/tenants/{tenantId}/plugins/{pluginId}/test', { params: { path }, body: { event: JSON.parse(sample) as Record<string, unknown> } }),
      );
      setVerdict(run.result);
      setTook(run.duration_ms);
    } catch (err) {
      setError(err as Error);
    }
  };
  const testable = instance.kind === 'validator' || instance.kind === 'transformer';
  return (
    <section className="panel form" aria-label={`Plugin ${instance.name}`}>
      <header className="row spread">
        <h2>{instance.name}</h2>
        {writable ? (
          <button type="button" onClick={() => save({ enabled: !instance.enabled })}>
            {instance.enabled ? 'Disable' : 'Enable'}
          </button>
        ) : null}
      </header>
      <p>
        <Id id={instance.id} /> version {instance.version}
      </p>
      {writable && type ? (
        <>
          <SchemaForm schema={type.config_schema} value={config} onChange={setConfig} />
          <button type="button" className="primary" onClick={() => save({ config })}>
            Save configuration
          </button>
        </>
      ) : (
        <JsonView value={instance.config} label="Configuration" />
      )}
      {testable ? (
        <>
          <h3>Dry run</h3>
          <label>
            Sample CloudEvent
            <textarea className="code" rows={8} spellCheck={false} value={sample} onChange={(e) => setSample(e.target.value)} />
          </label>
          <button type="button" onClick={dryRun}>
            Run against the sample
          </button>
          {verdict ? (
            <div className={verdict.kind === 'reject' ? 'state error' : 'state ok'} role="status">
              <strong>{verdict.kind}</strong> {verdict.detail ?? ''} {took !== null ? <span className="small">({took} ms)</span> : null}
              {verdict.event ? <JsonView value={verdict.event} label="Event after the plugin" /> : null}
            </div>
          ) : null}
        </>
      ) : null}
      {error ? <ErrorBox error={error} /> : null}
    </section>
  );
}
