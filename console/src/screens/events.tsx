/** A tenant's events: filters (types, subject, correlation id, time range), cursor paging, live mode. */
import { useState } from 'react';
import { Empty, Id, Loaded, PageHeader, Time } from '../components/bits';
import { Pager, useCursor } from '../components/pager';
import { api, type components, ok } from '../lib/api';
import { useLiveEvents } from '../lib/live-events';
import { Link, setQuery, useLocation } from '../lib/router';
import { useResource } from '../lib/use-resource';

type Event = components['schemas']['Event'];
const FILTERS = ['type', 'subject', 'correlation_id', 'after', 'before'] as const;
type Filters = Record<(typeof FILTERS)[number], string>;

/** `datetime-local` values are in the viewer's zone; the API takes RFC 3339. */
const toIso = (local: string) => (local ? new Date(local).toISOString() : undefined);

export default function Events({ tenant }: { tenant: string }) {
  const { query } = useLocation();
  const filters = Object.fromEntries(FILTERS.map((f) => [f, query.get(f) ?? ''])) as Filters;
  const live = query.get('live') === '1';
  const [draft, setDraft] = useState<Filters>(filters);
  const key = JSON.stringify(filters);
  const pages = useCursor(`${tenant}:${key}`);
  const list = useResource(
    () =>
      ok(
        api().GET('/v1/tenants/{tenantId}/events', {
          params: {
            path: { tenantId: tenant },
            query: {
              type: filters.type || undefined,
              subject: filters.subject || undefined,
              correlation_id: filters.correlation_id || undefined,
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
  const liveEvents = useLiveEvents(tenant, live, filters.type);
  const apply = (next: Filters, nextLive = live) => setQuery({ ...next, live: nextLive ? '1' : undefined });

  return (
    <>
      <PageHeader title="Events">
        <button type="button" aria-pressed={live} className={live ? 'primary' : ''} onClick={() => apply(filters, !live)}>
          {live ? 'Stop live' : 'Go live'}
        </button>
      </PageHeader>
      <form
        className="filters"
        aria-label="Filter events"
        onSubmit={(e) => {
          e.preventDefault();
          apply(draft);
        }}
      >
        <label>
          Types
          <input value={draft.type} onChange={(e) => setDraft({ ...draft, type: e.target.value })} placeholder="orders.created,orders.paid" />
        </label>
        <label>
          Subject
          <input value={draft.subject} onChange={(e) => setDraft({ ...draft, subject: e.target.value })} />
        </label>
        <label>
          Correlation id
          <input value={draft.correlation_id} onChange={(e) => setDraft({ ...draft, correlation_id: e.target.value })} />
        </label>
        <label>
          Received from
          <input type="datetime-local" step={1} value={draft.after} onChange={(e) => setDraft({ ...draft, after: e.target.value })} />
        </label>
        <label>
          until
          <input type="datetime-local" step={1} value={draft.before} onChange={(e) => setDraft({ ...draft, before: e.target.value })} />
        </label>
        <button type="submit">Apply</button>
        <button
          type="button"
          className="link"
          onClick={() => {
            const empty = { type: '', subject: '', correlation_id: '', after: '', before: '' };
            setDraft(empty);
            apply(empty);
          }}
        >
          Clear
        </button>
      </form>
      {live ? (
        <section className="panel live" aria-label="Live events">
          <h2>
            Live{' '}
            <span className="muted small" role="status">
              {liveEvents.mode === 'stream'
                ? '· streaming'
                : liveEvents.mode === 'polling'
                  ? '· checking every 2 s'
                  : liveEvents.mode === 'error'
                    ? '· cannot reach the API, retrying'
                    : '· connecting'}
            </span>
          </h2>
          {liveEvents.events.length === 0 ? <p className="muted">Waiting for new events…</p> : <EventTable tenant={tenant} events={liveEvents.events} />}
        </section>
      ) : null}
      <Loaded resource={list} what="Loading events">
        {(page) =>
          page.data.length === 0 ? (
            <Empty>
              <p>{FILTERS.some((f) => filters[f]) ? 'No event matches these filters.' : 'No events yet.'}</p>
              <p className="muted">Events appear here once a source accepts them (Sources shows a ready-to-paste signed curl command).</p>
            </Empty>
          ) : (
            <>
              <p className="muted small">
                Oldest first, in the order they were stored (by sequence; across the shards of a sharded tenant, by time received)
                {live ? '.' : '; “Go live” shows new events as they arrive.'}
              </p>
              <EventTable tenant={tenant} events={page.data} />
              <Pager page={pages.page} nextCursor={page.next_cursor} onNext={pages.next} onPrevious={pages.previous} />
            </>
          )
        }
      </Loaded>
    </>
  );
}

export function EventTable({ tenant, events }: { tenant: string; events: Event[] }) {
  return (
    <table>
      <thead>
        <tr>
          <th scope="col">Seq</th>
          <th scope="col">Type</th>
          <th scope="col">Subject</th>
          <th scope="col">Id</th>
          <th scope="col">Received</th>
        </tr>
      </thead>
      <tbody>
        {events.map((e) => (
          <tr key={e.id}>
            <td className="num">{e.sequence}</td>
            <td>
              <Link to={`/tenants/${tenant}/events/${e.id}`}>{e.type}</Link>
            </td>
            <td>{e.subject ?? <span className="muted">—</span>}</td>
            <td>
              <Id id={e.id} />
            </td>
            <td>
              <Time at={e.received_at} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
