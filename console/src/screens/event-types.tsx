/** Event types: the JSON Schema each type's data must satisfy, its versions, and a new version checked against a sample first. */
import { Validator } from '@cfworker/json-schema';
import { type FormEvent, useState } from 'react';
import { Empty, ErrorBox, Loaded, PageHeader, Time } from '../components/bits';
import { JsonView } from '../components/json-view';
import { Pager, useCursor } from '../components/pager';
import { api, ok } from '../lib/api';
import { can } from '../lib/session';
import { useSession } from '../lib/session-context';
import { useResource } from '../lib/use-resource';

const STARTER = { type: 'object', required: ['amount'], properties: { amount: { type: 'number', minimum: 0 } } };

export default function EventTypes({ tenant }: { tenant: string }) {
  const session = useSession();
  const pages = useCursor(tenant);
  const list = useResource(
    () => ok(api().GET('/v1/tenants/{tenantId}/event-types', { params: { path: { tenantId: tenant }, query: { cursor: pages.cursor, limit: 50 } } })),
    [tenant, pages.cursor],
  );
  const [selected, setSelected] = useState<string | null>(null);
  const [editing, setEditing] = useState<{ type: string; schema: unknown } | null>(null);
  const writable = can(session, 'event-types', 'write');
  return (
    <>
      <PageHeader title="Event types">
        {writable ? (
          <button type="button" className="primary" onClick={() => setEditing({ type: '', schema: STARTER })}>
            New event type
          </button>
        ) : null}
      </PageHeader>
      {editing ? (
        <SchemaEditor
          tenant={tenant}
          initial={editing}
          onSaved={(type) => {
            setEditing(null);
            setSelected(type);
            list.reload();
          }}
          onCancel={() => setEditing(null)}
        />
      ) : null}
      <Loaded resource={list} what="Loading event types">
        {(page) =>
          page.data.length === 0 ? (
            <Empty>
              <p>No event types registered. Events of any type are accepted; registering a type makes ingest check its data against a JSON Schema.</p>
            </Empty>
          ) : (
            <>
              <table>
                <thead>
                  <tr>
                    <th scope="col">Type</th>
                    <th scope="col">Version</th>
                    <th scope="col">Description</th>
                    <th scope="col">Since</th>
                  </tr>
                </thead>
                <tbody>
                  {page.data.map((t) => (
                    <tr key={t.type}>
                      <td>
                        <button type="button" className="link" onClick={() => setSelected(t.type)} aria-expanded={selected === t.type}>
                          <code>{t.type}</code>
                        </button>
                      </td>
                      <td className="num">v{t.version}</td>
                      <td>{t.description ?? <span className="muted">—</span>}</td>
                      <td>
                        <Time at={t.created_at} />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
              <Pager page={pages.page} nextCursor={page.next_cursor} onNext={pages.next} onPrevious={pages.previous} />
            </>
          )
        }
      </Loaded>
      {selected ? <Versions tenant={tenant} type={selected} onEdit={writable ? (schema) => setEditing({ type: selected, schema }) : undefined} /> : null}
    </>
  );
}

function Versions({ tenant, type, onEdit }: { tenant: string; type: string; onEdit?: (schema: unknown) => void }) {
  const detail = useResource(
    () => ok(api().GET('/v1/tenants/{tenantId}/event-types/{type}', { params: { path: { tenantId: tenant, type } } })),
    [tenant, type],
  );
  return (
    <section className="panel" aria-label={`Versions of ${type}`}>
      <Loaded resource={detail}>
        {(d) => {
          const versions = [...d.versions].sort((a, b) => b.version - a.version);
          return (
            <>
              <header className="row spread">
                <h2>
                  <code>{type}</code>
                </h2>
                {onEdit ? (
                  <button type="button" onClick={() => onEdit(versions[0]?.schema ?? STARTER)}>
                    New version
                  </button>
                ) : null}
              </header>
              {versions.map((v) => (
                <div key={v.version}>
                  <h3>
                    v{v.version} <Time at={v.created_at} />
                  </h3>
                  <JsonView value={v.schema} label={`Schema v${v.version}`} />
                </div>
              ))}
            </>
          );
        }}
      </Loaded>
    </section>
  );
}

function SchemaEditor({
  tenant,
  initial,
  onSaved,
  onCancel,
}: {
  tenant: string;
  initial: { type: string; schema: unknown };
  onSaved: (type: string) => void;
  onCancel: () => void;
}) {
  const [type, setType] = useState(initial.type);
  const [schema, setSchema] = useState(JSON.stringify(initial.schema, null, 2));
  const [sample, setSample] = useState('{\n  "amount": 42\n}');
  const [verdict, setVerdict] = useState<{ valid: boolean; lines: string[] } | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const validate = () => {
    try {
      const result = new Validator(JSON.parse(schema) as object, '2020-12', false).validate(JSON.parse(sample));
      setVerdict({ valid: result.valid, lines: result.errors.filter((e) => e.keyword !== 'properties').map((e) => `${e.instanceLocation}: ${e.error}`) });
    } catch (err) {
      setVerdict({ valid: false, lines: [`Not JSON: ${(err as Error).message}`] });
    }
  };
  const save = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      const parsed = JSON.parse(schema) as Record<string, unknown>;
      await ok(api().PUT('/v1/tenants/{tenantId}/event-types/{type}', { params: { path: { tenantId: tenant, type: type.trim() } }, body: { schema: parsed } }));
      onSaved(type.trim());
    } catch (err) {
      setError(err as Error);
    }
  };
  return (
    <form className="panel form" onSubmit={save} aria-label="Event type schema">
      <label>
        Type
        <input value={type} onChange={(e) => setType(e.target.value)} required readOnly={initial.type !== ''} placeholder="orders.created" />
      </label>
      <div className="two">
        <label>
          JSON Schema (draft 2020-12) for <code>data</code>
          <textarea className="code" rows={14} spellCheck={false} value={schema} onChange={(e) => setSchema(e.target.value)} />
        </label>
        <label>
          Sample <code>data</code>
          <textarea className="code" rows={14} spellCheck={false} value={sample} onChange={(e) => setSample(e.target.value)} />
        </label>
      </div>
      {verdict ? (
        <div className={verdict.valid ? 'state ok' : 'state error'} role="status">
          {verdict.valid ? 'The sample is valid.' : 'The sample is not valid:'}
          {verdict.lines.length ? (
            <ul>
              {verdict.lines.map((l) => (
                <li key={l}>{l}</li>
              ))}
            </ul>
          ) : null}
        </div>
      ) : null}
      {error ? <ErrorBox error={error} /> : null}
      <div className="row">
        <button type="button" onClick={validate}>
          Validate sample
        </button>
        <button type="submit" className="primary" disabled={!type.trim()}>
          Save version
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
