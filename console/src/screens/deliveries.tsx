/** Deliveries of a tenant by status, subscription and time, newest activity first as the API lists them; bulk retry over a filter. */
import { useEffect, useState } from 'react';
import { Empty, Loaded, PageHeader } from '../components/bits';
import { Pager, useCursor } from '../components/pager';
import { api, ok } from '../lib/api';
import { setQuery, useLocation } from '../lib/router';
import { can } from '../lib/session';
import { useSession } from '../lib/session-context';
import { useResource } from '../lib/use-resource';
import { BulkRetry } from './bulk-retry';
import { DeliveryTable } from './delivery-table';

const STATUSES = ['pending', 'scheduled', 'delivered', 'failed', 'skipped'] as const;
type Status = (typeof STATUSES)[number];
const isStatus = (s: string | null): s is Status => STATUSES.includes(s as Status);
const toIso = (local: string) => (local ? new Date(local).toISOString() : undefined);

export default function Deliveries({ tenant }: { tenant: string }) {
  const session = useSession();
  const { query } = useLocation();
  const status = query.get('status');
  const filters = {
    status: isStatus(status) ? status : '',
    subscription_id: query.get('subscription_id') ?? '',
    after: query.get('after') ?? '',
    before: query.get('before') ?? '',
  };
  const [draft, setDraft] = useState(filters);
  const key = JSON.stringify(filters);
  const pages = useCursor(`${tenant}:${key}`);
  const list = useResource(
    () =>
      ok(
        api().GET('/v1/tenants/{tenantId}/deliveries', {
          params: {
            path: { tenantId: tenant },
            query: {
              status: isStatus(filters.status) ? filters.status : undefined,
              subscription_id: filters.subscription_id || undefined,
              after: toIso(filters.after),
              before: toIso(filters.before),
              cursor: pages.cursor,
              limit: 50,
            },
          },
        }),
      ),
    [tenant, key, pages.cursor],
  );
  const { reload } = list;
  useEffect(() => {
    const timer = setInterval(reload, 5000);
    return () => clearInterval(timer);
  }, [reload]);

  return (
    <>
      <PageHeader title="Deliveries">
        <button type="button" onClick={list.reload}>
          Refresh
        </button>
      </PageHeader>
      <form
        className="filters"
        aria-label="Filter deliveries"
        onSubmit={(e) => {
          e.preventDefault();
          setQuery(draft);
        }}
      >
        <label>
          Status
          <select value={draft.status} onChange={(e) => setDraft({ ...draft, status: e.target.value as Status | '' })}>
            <option value="">any</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Subscription id
          <input value={draft.subscription_id} onChange={(e) => setDraft({ ...draft, subscription_id: e.target.value })} placeholder="sub_…" />
        </label>
        <label>
          Created from
          <input type="datetime-local" step={1} value={draft.after} onChange={(e) => setDraft({ ...draft, after: e.target.value })} />
        </label>
        <label>
          until
          <input type="datetime-local" step={1} value={draft.before} onChange={(e) => setDraft({ ...draft, before: e.target.value })} />
        </label>
        <button type="submit">Apply</button>
      </form>
      {can(session, 'deliveries', 'write') ? (
        <div className="row tools">
          <BulkRetry key={key} tenant={tenant} defaults={filters} onDone={list.reload} />
        </div>
      ) : null}
      <Loaded resource={list} what="Loading deliveries">
        {(page) =>
          page.data.length === 0 ? (
            <Empty>
              <p>
                {Object.values(filters).some(Boolean)
                  ? 'No delivery matches these filters.'
                  : 'No deliveries yet: they appear once an event matches a subscription.'}
              </p>
            </Empty>
          ) : (
            <>
              <DeliveryTable tenant={tenant} deliveries={page.data} />
              <Pager page={pages.page} nextCursor={page.next_cursor} onNext={pages.next} onPrevious={pages.previous} />
            </>
          )
        }
      </Loaded>
    </>
  );
}
