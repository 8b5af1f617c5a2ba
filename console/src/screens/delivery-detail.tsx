/** One delivery with every attempt (status, latency, error, response body) and a Retry button. */
import { useEffect, useState } from 'react';
import { ErrorBox, Id, Loaded, PageHeader, Status, Time } from '../components/bits';
import { LongText } from '../components/json-view';
import { api, ok } from '../lib/api';
import { Link } from '../lib/router';
import { can } from '../lib/session';
import { useSession } from '../lib/session-context';
import { useResource } from '../lib/use-resource';

export default function DeliveryDetail({ tenant, id }: { tenant: string; id: string }) {
  const session = useSession();
  const delivery = useResource(
    () => ok(api().GET('/v1/tenants/{tenantId}/deliveries/{deliveryId}', { params: { path: { tenantId: tenant, deliveryId: id } } })),
    [tenant, id],
  );
  const [retryError, setRetryError] = useState<Error | null>(null);
  const [retrying, setRetrying] = useState(false);
  const pending = delivery.status === 'ready' && delivery.data.status === 'pending';
  const { reload } = delivery;
  // a pending delivery is still moving: follow it
  useEffect(() => {
    if (!pending) return;
    const timer = setInterval(reload, 1500);
    return () => clearInterval(timer);
  }, [pending, reload]);

  const retry = async () => {
    setRetrying(true);
    setRetryError(null);
    try {
      await ok(api().POST('/v1/tenants/{tenantId}/deliveries/{deliveryId}/retry', { params: { path: { tenantId: tenant, deliveryId: id } } }));
      reload();
    } catch (error) {
      setRetryError(error as Error);
    } finally {
      setRetrying(false);
    }
  };

  return (
    <>
      <p className="crumbs">
        <Link to={`/tenants/${tenant}/deliveries`}>Deliveries</Link> /
      </p>
      <Loaded resource={delivery} what="Loading the delivery">
        {(d) => (
          <>
            <PageHeader title={`Delivery ${d.id}`}>
              {d.status !== 'pending' && can(session, 'deliveries', 'write') ? (
                <button type="button" className="primary" onClick={retry} disabled={retrying}>
                  {retrying ? 'Retrying…' : 'Retry'}
                </button>
              ) : null}
            </PageHeader>
            {retryError ? <ErrorBox error={retryError} /> : null}
            <dl className="facts">
              <dt>Status</dt>
              <dd>
                <Status status={d.status} />{' '}
                {d.status === 'pending' && d.next_attempt_at ? (
                  <span className="muted small">
                    next attempt <Time at={d.next_attempt_at} />
                  </span>
                ) : null}
              </dd>
              <dt>Delivery id</dt>
              <dd>
                <Id id={d.id} />
              </dd>
              <dt>Event</dt>
              <dd>
                <Link to={`/tenants/${tenant}/events/${d.event_id}`}>
                  #{d.event_sequence} <code>{d.event_id}</code>
                </Link>
              </dd>
              <dt>Subscription</dt>
              <dd>
                <Link to={`/tenants/${tenant}/subscriptions/${d.subscription_id}`}>
                  <code>{d.subscription_id}</code>
                </Link>
              </dd>
              <dt>Created</dt>
              <dd>
                <Time at={d.created_at} />
              </dd>
              <dt>Finished</dt>
              <dd>
                <Time at={d.finished_at} />
              </dd>
              {d.replay_id ? (
                <>
                  <dt>Replay</dt>
                  <dd>
                    <code>{d.replay_id}</code>
                  </dd>
                </>
              ) : null}
            </dl>
            <h2>
              Attempts <span className="muted">({d.attempt_log.length})</span>
            </h2>
            {d.attempt_log.length === 0 ? (
              <p className="muted">No attempt yet{d.next_attempt_at ? '; the first one is scheduled' : ''}.</p>
            ) : (
              <ol className="attempts">
                {d.attempt_log.map((a) => (
                  <li key={`${a.attempt}-${a.started_at}`} className={`attempt attempt-${a.outcome}`}>
                    <div className="attempt-head">
                      <strong>Attempt {a.attempt}</strong>
                      <span className={`badge badge-${a.outcome}`}>{a.outcome}</span>
                      {a.status_code !== null ? <code>HTTP {a.status_code}</code> : null}
                      <span className="muted">{a.latency_ms} ms</span>
                      <Time at={a.started_at} />
                    </div>
                    {a.error ? (
                      <p className="attempt-error">
                        <span className="muted">Error:</span> {a.error}
                      </p>
                    ) : null}
                    {a.response_body ? (
                      <details open={a.outcome !== 'delivered'}>
                        <summary>Response body</summary>
                        <LongText text={a.response_body} label={`Response body of attempt ${a.attempt}`} />
                      </details>
                    ) : null}
                  </li>
                ))}
              </ol>
            )}
          </>
        )}
      </Loaded>
    </>
  );
}
