/**
 * One delivery with every attempt (status, latency, error; the request as sent and the response, each
 * collapsible, open for an attempt that failed) and a Retry button.
 */
import { useEffect, useState } from 'react';
import { ErrorBox, Id, Loaded, PageHeader, Status, Time } from '../components/bits';
import { JsonView, LongText } from '../components/json-view';
import { api, type components, ok } from '../lib/api';
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
                    <AttemptExchange attempt={a} />
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

type Attempt = components['schemas']['DeliveryAttempt'];

/** The request as sent and the response of one attempt, each in its own collapsible section. */
function AttemptExchange({ attempt: a }: { attempt: Attempt }) {
  const open = a.outcome !== 'delivered';
  const { request, response } = a;
  const hasResponse = response.status !== null || response.body !== null || (response.headers !== null && Object.keys(response.headers).length > 0);
  return (
    <>
      {request ? (
        <details open={open} className="attempt-request">
          <summary>Request</summary>
          <p className="attempt-line">
            <code className="wrap">
              {request.method} {request.url}
            </code>
          </p>
          <HeaderTable headers={request.headers} label={`Request headers of attempt ${a.attempt}`} />
          {request.body !== null && request.body !== '' ? (
            <>
              <Body text={request.body} label={`Request body of attempt ${a.attempt}`} />
              {request.body_truncated ? <p className="muted small">Only the first 16 KiB of the body is kept.</p> : null}
            </>
          ) : (
            <p className="muted small">{request.body === null ? 'The body was streamed and not kept.' : 'No body.'}</p>
          )}
        </details>
      ) : null}
      {hasResponse ? (
        <details open={open} className="attempt-response">
          <summary>Response</summary>
          <p className="attempt-line">{response.status !== null ? <code>HTTP {response.status}</code> : <span className="muted">No answer</span>}</p>
          {response.headers ? <HeaderTable headers={response.headers} label={`Response headers of attempt ${a.attempt}`} /> : null}
          {response.body ? (
            <>
              <Body text={response.body} label={`Response body of attempt ${a.attempt}`} />
              {response.body_truncated ? <p className="muted small">Only the first 1 KiB of the body is kept.</p> : null}
            </>
          ) : null}
        </details>
      ) : null}
    </>
  );
}

/** A body: JSON highlighted, anything else (or JSON cut at its bound) as text. */
function Body({ text, label }: { text: string; label: string }) {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return <LongText text={text} label={label} />;
  }
  return <JsonView value={value} label={label} />;
}

function HeaderTable({ headers, label }: { headers: Record<string, string>; label: string }) {
  const entries = Object.entries(headers);
  if (entries.length === 0) return <p className="muted small">No headers.</p>;
  return (
    <table className="headers small" aria-label={label}>
      <tbody>
        {entries.map(([name, value]) => (
          <tr key={name}>
            <th scope="row">
              <code>{name}</code>
            </th>
            <td>
              <code className="wrap">{value}</code>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
