/** Management changes of the tenant, newest first: who did what to which resource. */
import { useState } from 'react';
import { Empty, Loaded, PageHeader, Time } from '../components/bits';
import { JsonView } from '../components/json-view';
import { Pager, useCursor } from '../components/pager';
import { api, ok } from '../lib/api';
import { setQuery, useLocation } from '../lib/router';
import { useResource } from '../lib/use-resource';

export default function AuditLog({ tenant }: { tenant: string }) {
  const { query } = useLocation();
  const action = query.get('action') ?? '';
  const target = query.get('target') ?? '';
  const [draft, setDraft] = useState({ action, target });
  const pages = useCursor(`${tenant}:${action}:${target}`);
  const list = useResource(
    () =>
      ok(
        api().GET('/v1/tenants/{tenantId}/audit-log', {
          params: { path: { tenantId: tenant }, query: { action: action || undefined, target: target || undefined, cursor: pages.cursor, limit: 50 } },
        }),
      ),
    [tenant, action, target, pages.cursor],
  );
  return (
    <>
      <PageHeader title="Audit log" />
      <form
        className="filters"
        aria-label="Filter the audit log"
        onSubmit={(e) => {
          e.preventDefault();
          setQuery(draft);
        }}
      >
        <label>
          Action
          <input value={draft.action} onChange={(e) => setDraft({ ...draft, action: e.target.value })} placeholder="subscription.created" />
        </label>
        <label>
          Target
          <input value={draft.target} onChange={(e) => setDraft({ ...draft, target: e.target.value })} placeholder="sub_…" />
        </label>
        <button type="submit">Apply</button>
      </form>
      <Loaded resource={list} what="Loading the audit log">
        {(page) =>
          page.data.length === 0 ? (
            <Empty>
              <p>No entries{action || target ? ' match these filters' : ' yet'}.</p>
            </Empty>
          ) : (
            <>
              <table>
                <thead>
                  <tr>
                    <th scope="col">When</th>
                    <th scope="col">Actor</th>
                    <th scope="col">Action</th>
                    <th scope="col">Target</th>
                    <th scope="col">Details</th>
                  </tr>
                </thead>
                <tbody>
                  {page.data.map((a) => (
                    <tr key={a.id}>
                      <td>
                        <Time at={a.at} />
                      </td>
                      <td>
                        <code>{a.actor}</code>
                      </td>
                      <td>
                        <code>{a.action}</code>
                      </td>
                      <td>{a.target ? <code>{a.target}</code> : <span className="muted">—</span>}</td>
                      <td>
                        {Object.keys(a.details).length === 0 ? null : JSON.stringify(a.details).length <= 80 ? (
                          <code className="wrap">{JSON.stringify(a.details)}</code>
                        ) : (
                          <JsonView value={a.details} label={`Details of ${a.action}`} />
                        )}
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
    </>
  );
}
