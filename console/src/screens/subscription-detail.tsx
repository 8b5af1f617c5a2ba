/**
 * One subscription: its filter and endpoint, health from its recent deliveries (success rate, latency,
 * failures in a row, a sparkline), its circuit breaker, pause/resume/disable, edit, rotate the secret,
 * send a test event.
 */
import { useState } from 'react';
import { CopyText, ErrorBox, Id, Loaded, PageHeader, Time } from '../components/bits';
import { JsonView } from '../components/json-view';
import { TypesPicker } from '../components/types-picker';
import { WhereEditor } from '../components/where-editor';
import type { paths } from '@switchyard/client';
import { api, type components, ok } from '../lib/api';
import { knownTypes } from '../lib/known-types';
import { Link } from '../lib/router';
import { can, canSecrets } from '../lib/session';
import { useSession } from '../lib/session-context';
import { useResource } from '../lib/use-resource';
import { DeliveryTable } from './delivery-table';
import { HealthView } from './health-view';
import { actionLabel, SubscriptionState } from './subscriptions';
import { ReplayPanel } from './replay';
import { BreakerState, PausedNote, StatusControls } from './subscription-controls';
import { TestEvent } from './test-event';

type Subscription = components['schemas']['Subscription'];
type PatchBody = NonNullable<paths['/v1/tenants/{tenantId}/subscriptions/{subscriptionId}']['patch']['requestBody']>['content']['application/json'];

export default function SubscriptionDetail({ tenant, id }: { tenant: string; id: string }) {
  const session = useSession();
  const subscription = useResource(
    () => ok(api().GET('/v1/tenants/{tenantId}/subscriptions/{subscriptionId}', { params: { path: { tenantId: tenant, subscriptionId: id } } })),
    [tenant, id],
  );
  const deliveries = useResource(
    () =>
      can(session, 'deliveries', 'read')
        ? ok(api().GET('/v1/tenants/{tenantId}/deliveries', { params: { path: { tenantId: tenant }, query: { subscription_id: id, limit: 100 } } }))
        : Promise.resolve(null),
    [tenant, id],
  );
  const writable = can(session, 'subscriptions', 'write');
  const [error, setError] = useState<Error | null>(null);
  const [editing, setEditing] = useState(false);
  const [secret, setSecret] = useState<string | null>(null);

  const patch = async (body: PatchBody) => {
    setError(null);
    try {
      await ok(api().PATCH('/v1/tenants/{tenantId}/subscriptions/{subscriptionId}', { params: { path: { tenantId: tenant, subscriptionId: id } }, body }));
      subscription.reload();
      setEditing(false);
    } catch (err) {
      setError(err as Error);
    }
  };
  const rotate = async () => {
    setError(null);
    try {
      const rotated = await ok(
        api().POST('/v1/tenants/{tenantId}/subscriptions/{subscriptionId}/rotate-secret', {
          params: { path: { tenantId: tenant, subscriptionId: id } },
          body: {},
        }),
      );
      setSecret(rotated.secret ?? rotated.public_key);
    } catch (err) {
      setError(err as Error);
    }
  };

  return (
    <>
      <p className="crumbs">
        <Link to={`/tenants/${tenant}/subscriptions`}>Subscriptions</Link> /
      </p>
      <Loaded resource={subscription} what="Loading the subscription">
        {(s) => (
          <>
            <PageHeader title={s.name || 'Subscription'}>
              {writable ? (
                <>
                  <StatusControls subscription={s} onChange={(status) => patch({ status })} />
                  <button type="button" onClick={() => setEditing(!editing)} aria-expanded={editing}>
                    Edit
                  </button>
                </>
              ) : null}
              {canSecrets(session) ? (
                <button type="button" onClick={rotate}>
                  Rotate secret
                </button>
              ) : null}
            </PageHeader>
            {error ? <ErrorBox error={error} /> : null}
            <PausedNote subscription={s} />
            {secret ? (
              <div className="panel secret" role="status">
                <p>New signing secret — shown only now (the old one keeps signing for a day, so receivers can switch over):</p>
                <code className="wrap">{secret}</code> <CopyText text={secret} label="Copy secret" />
              </div>
            ) : null}
            {editing ? <EditSubscription tenant={tenant} subscription={s} onSave={patch} onCancel={() => setEditing(false)} /> : null}
            <dl className="facts">
              <dt>Id</dt>
              <dd>
                <Id id={s.id} />
              </dd>
              <dt>State</dt>
              <dd>
                <SubscriptionState subscription={s} />
                {s.disabled_reason ? <span className="muted"> {s.disabled_reason}</span> : null}
              </dd>
              <dt>Types</dt>
              <dd>
                {s.types.map((t) => (
                  <code key={t} className="chip">
                    {t}
                  </code>
                ))}
              </dd>
              <dt>Delivers to</dt>
              <dd className="wrap">{actionLabel(s.action)}</dd>
              <dt>Ordering</dt>
              <dd>{s.ordering}</dd>
              <dt>Circuit breaker</dt>
              <dd>
                <BreakerState breaker={s.breaker} />
              </dd>
              <dt>Failures in a row</dt>
              <dd>
                {s.consecutive_failures} <span className="muted small">(disabled at {s.failure_threshold})</span>
              </dd>
              <dt>Updated</dt>
              <dd>
                <Time at={s.updated_at} />
              </dd>
            </dl>
            {s.where ? (
              <>
                <h2>Filter</h2>
                <JsonView value={s.where} label="where filter" />
              </>
            ) : null}
            <div className="row tools">
              {writable ? <TestEvent tenant={tenant} subscription={s} onSent={deliveries.reload} /> : null}
              {can(session, 'deliveries', 'write') ? <ReplayPanel tenant={tenant} subscription={s.id} /> : null}
            </div>
          </>
        )}
      </Loaded>
      {can(session, 'deliveries', 'read') ? (
        <section>
          <h2>Health</h2>
          <Loaded resource={deliveries} what="Loading recent deliveries">
            {(page) => {
              if (!page) return null;
              return (
                <>
                  {page.data.length === 0 ? <p className="muted">No deliveries yet: send a test event, or wait for a matching one.</p> : null}
                  {page.data.length === 0 ? null : (
                    <HealthView tenant={tenant} id={id} recent={page.data} consecutiveFailures={subscription.data?.consecutive_failures ?? 0} />
                  )}
                  <h2>
                    Recent deliveries{' '}
                    <button type="button" className="heading-button" onClick={deliveries.reload}>
                      Refresh
                    </button>
                  </h2>
                  {page.data.length ? <DeliveryTable tenant={tenant} deliveries={page.data.slice(0, 20)} show="event" /> : null}
                  <p>
                    <Link to={`/tenants/${tenant}/deliveries?subscription_id=${encodeURIComponent(id)}`}>All deliveries of this subscription</Link>
                  </p>
                </>
              );
            }}
          </Loaded>
        </section>
      ) : null}
    </>
  );
}

function EditSubscription({
  tenant,
  subscription,
  onSave,
  onCancel,
}: {
  tenant: string;
  subscription: Subscription;
  onSave: (body: { types: string[]; where: Record<string, unknown> | null; name: string | null }) => void;
  onCancel: () => void;
}) {
  const session = useSession();
  const known = useResource(() => knownTypes(session, tenant), [tenant]);
  const [types, setTypes] = useState(subscription.types);
  const [name, setName] = useState(subscription.name ?? '');
  const [where, setWhere] = useState((subscription.where as Record<string, unknown> | null | undefined) ?? null);
  const [valid, setValid] = useState(true);
  return (
    <form
      className="panel form"
      aria-label="Edit subscription"
      onSubmit={(e) => {
        e.preventDefault();
        onSave({ types, where, name: name.trim() || null });
      }}
    >
      <label>
        Name
        <input value={name} onChange={(e) => setName(e.target.value)} maxLength={200} />
      </label>
      <TypesPicker value={types} onChange={setTypes} known={known.data ?? []} />
      <WhereEditor tenant={tenant} types={types} value={where} onChange={(w, ok) => (setWhere(w), setValid(ok))} />
      <div className="row">
        <button type="submit" className="primary" disabled={!valid || types.length === 0}>
          Save
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
