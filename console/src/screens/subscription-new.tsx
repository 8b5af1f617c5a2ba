/** Create a subscription: type patterns, an optional `where` filter, a webhook endpoint. */
import { type FormEvent, useState } from 'react';
import { CopyText, ErrorBox, PageHeader } from '../components/bits';
import { TypesPicker } from '../components/types-picker';
import { WhereEditor } from '../components/where-editor';
import { api, type components, ok } from '../lib/api';
import { knownTypes } from '../lib/known-types';
import { Link } from '../lib/router';
import { useSession } from '../lib/session-context';
import { useResource } from '../lib/use-resource';

export default function SubscriptionNew({ tenant }: { tenant: string }) {
  const session = useSession();
  const known = useResource(() => knownTypes(session, tenant), [tenant]);
  const [name, setName] = useState('');
  const [types, setTypes] = useState<string[]>([]);
  const [url, setUrl] = useState('');
  const [where, setWhere] = useState<Record<string, unknown> | null>(null);
  const [whereValid, setWhereValid] = useState(true);
  const [ordering, setOrdering] = useState<'none' | 'partition'>('none');
  const [schedule, setSchedule] = useState('');
  const [error, setError] = useState<Error | null>(null);
  const [created, setCreated] = useState<components['schemas']['CreatedSubscription'] | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      setCreated(
        await ok(
          api().POST('/v1/tenants/{tenantId}/subscriptions', {
            params: { path: { tenantId: tenant } },
            body: {
              name: name.trim() || null,
              types,
              where,
              ordering,
              action: { type: 'webhook', config: { url: url.trim() } },
              retry_schedule: schedule.trim() ? schedule.split(',').map((n) => Number(n.trim())) : null,
            },
          }),
        ),
      );
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(false);
    }
  };

  if (created) {
    return (
      <>
        <PageHeader title="Subscription created" />
        <div className="panel secret" role="status">
          {created.secret ? (
            <>
              <p>Signing secret — shown only now; your endpoint verifies the Standard Webhooks signature with it:</p>
              <code className="wrap">{created.secret}</code> <CopyText text={created.secret} label="Copy secret" />
            </>
          ) : null}
          <p>
            <Link className="button primary" to={`/tenants/${tenant}/subscriptions/${created.id}`}>
              Open the subscription
            </Link>
          </p>
        </div>
      </>
    );
  }

  return (
    <>
      <p className="crumbs">
        <Link to={`/tenants/${tenant}/subscriptions`}>Subscriptions</Link> /
      </p>
      <PageHeader title="New subscription" />
      <form className="panel form" onSubmit={submit} aria-label="New subscription">
        <label>
          Name (optional)
          <input value={name} onChange={(e) => setName(e.target.value)} maxLength={200} placeholder="Order service" />
        </label>
        <TypesPicker value={types} onChange={setTypes} known={known.data ?? []} />
        <label>
          Webhook URL
          <input type="url" value={url} onChange={(e) => setUrl(e.target.value)} required placeholder="https://example.com/webhooks" />
        </label>
        <WhereEditor tenant={tenant} types={types} value={where} onChange={(w, valid) => (setWhere(w), setWhereValid(valid))} />
        <label>
          Ordering
          <select value={ordering} onChange={(e) => setOrdering(e.target.value as 'none' | 'partition')}>
            <option value="none">none — deliver as fast as possible</option>
            <option value="partition">partition — strictly in order per partition key</option>
          </select>
        </label>
        <label>
          Retry schedule (optional)
          <input
            value={schedule}
            onChange={(e) => setSchedule(e.target.value)}
            placeholder="0, 5, 300, 1800"
            inputMode="numeric"
            aria-describedby="schedule-help"
          />
        </label>
        <p id="schedule-help" className="muted small">
          Seconds to wait before each attempt, comma-separated; the count is the number of attempts. Empty: the default (now, 5 s, 5 min, 30 min, 2 h, 5 h, 10
          h, 10 h).
        </p>
        {error ? <ErrorBox error={error} /> : null}
        <div className="row">
          <button type="submit" className="primary" disabled={busy || types.length === 0 || !url.trim() || !whereValid}>
            Create subscription
          </button>
          {types.length === 0 ? <span className="muted small">Add at least one type pattern.</span> : null}
        </div>
      </form>
    </>
  );
}
