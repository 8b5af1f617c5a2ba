/** One stored event: its CloudEvent, sequence and ids, and what became of it (its deliveries). */
import { Empty, Id, Loaded, PageHeader, Time } from '../components/bits';
import { JsonView } from '../components/json-view';
import { api, ok } from '../lib/api';
import { Link } from '../lib/router';
import { can } from '../lib/session';
import { useSession } from '../lib/session-context';
import { useResource } from '../lib/use-resource';
import { DeliveryTable } from './delivery-table';

export default function EventDetail({ tenant, id }: { tenant: string; id: string }) {
  const session = useSession();
  const event = useResource(
    () => ok(api().GET('/v1/tenants/{tenantId}/events/{eventId}', { params: { path: { tenantId: tenant, eventId: id } } })),
    [tenant, id],
  );
  const deliveries = useResource(
    () =>
      can(session, 'deliveries', 'read')
        ? ok(api().GET('/v1/tenants/{tenantId}/deliveries', { params: { path: { tenantId: tenant }, query: { event_id: id, limit: 100 } } }))
        : Promise.resolve(null),
    [tenant, id],
  );
  return (
    <>
      <p className="crumbs">
        <Link to={`/tenants/${tenant}/events`}>Events</Link> /
      </p>
      <Loaded resource={event} what="Loading the event">
        {(e) => (
          <>
            <PageHeader title={e.type} />
            <dl className="facts">
              <dt>Sequence</dt>
              <dd className="num">{e.sequence}</dd>
              <dt>Event id</dt>
              <dd>
                <Id id={e.id} />
              </dd>
              <dt>Producer's id</dt>
              <dd>
                <Id id={e.ce_id} />
              </dd>
              <dt>Source</dt>
              <dd>
                <code>{e.source}</code> via <code>{e.source_id}</code>
              </dd>
              <dt>Subject</dt>
              <dd>{e.subject ?? <span className="muted">—</span>}</dd>
              <dt>Time (producer)</dt>
              <dd>
                <Time at={e.time} />
              </dd>
              <dt>Received</dt>
              <dd>
                <Time at={e.received_at} />
              </dd>
            </dl>
            <h2>CloudEvent</h2>
            <JsonView value={e} label="CloudEvent JSON" />
          </>
        )}
      </Loaded>
      {can(session, 'deliveries', 'read') ? (
        <section>
          <h2>Deliveries</h2>
          <Loaded resource={deliveries} what="Loading deliveries">
            {(page) =>
              !page || page.data.length === 0 ? (
                <Empty>
                  <p>No subscription matched this event (or its deliveries are still being created).</p>
                  <button type="button" onClick={deliveries.reload}>
                    Refresh
                  </button>
                </Empty>
              ) : (
                <>
                  <DeliveryTable tenant={tenant} deliveries={page.data} show="subscription" />
                  <button type="button" onClick={deliveries.reload}>
                    Refresh
                  </button>
                </>
              )
            }
          </Loaded>
        </section>
      ) : null}
    </>
  );
}
