/** Bulk retry: POST …/deliveries/retry with a status, subscription and time range, then the job's progress (polled). */
import { type FormEvent, useCallback, useEffect, useState } from 'react';
import { ErrorBox, Status, Time } from '../components/bits';
import { api, type components, ok } from '../lib/api';

type Retry = components['schemas']['DeliveryRetry'];
type Filters = { status: 'failed' | 'pending'; subscription_id: string; since: string; until: string };

const toIso = (local: string) => (local ? new Date(local).toISOString() : undefined);

/** `onDone` runs once the job has finished (the list behind it shows the retried deliveries then). */
export function BulkRetry({
  tenant,
  defaults,
  onDone,
}: {
  tenant: string;
  defaults: { subscription_id: string; after: string; before: string };
  onDone?: () => void;
}) {
  const [open, setOpen] = useState(false);
  const [filters, setFilters] = useState<Filters>({
    status: 'failed',
    subscription_id: defaults.subscription_id,
    since: defaults.after,
    until: defaults.before,
  });
  const [job, setJob] = useState<Retry | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const running = job?.status === 'running';
  const show = useCallback(
    (next: Retry) => {
      setJob(next);
      if (next.status !== 'running') onDone?.();
    },
    [onDone],
  );

  useEffect(() => {
    if (!running || !job) return;
    const timer = setInterval(async () => {
      try {
        show(await ok(api().GET('/v1/tenants/{tenantId}/deliveries/retry/{retryId}', { params: { path: { tenantId: tenant, retryId: job.id } } })));
      } catch (err) {
        setError(err as Error);
      }
    }, 1000);
    return () => clearInterval(timer);
  }, [running, job, tenant, show]);

  const start = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      const body = {
        status: filters.status,
        ...(filters.subscription_id.trim() ? { subscription_id: filters.subscription_id.trim() } : {}),
        ...(filters.since ? { since: toIso(filters.since) } : {}),
        ...(filters.until ? { until: toIso(filters.until) } : {}),
      };
      show(await ok(api().POST('/v1/tenants/{tenantId}/deliveries/retry', { params: { path: { tenantId: tenant } }, body })));
    } catch (err) {
      setError(err as Error);
    }
  };

  if (!open)
    return (
      <button type="button" onClick={() => setOpen(true)}>
        Retry deliveries…
      </button>
    );
  const done = job ? job.retried + job.skipped : 0;
  return (
    <form className="panel form" onSubmit={start} aria-label="Bulk retry">
      <h2>Retry many deliveries</h2>
      <p className="muted small">
        Failed deliveries go back to pending with a fresh retry schedule; pending ones are attempted now. Deliveries of paused, disabled or deleted
        subscriptions are skipped, and so are deliveries whose event is past the tenant's retention (replay those from the archive).
      </p>
      <div className="row">
        <label>
          Deliveries that are
          <select value={filters.status} onChange={(e) => setFilters({ ...filters, status: e.target.value as Filters['status'] })}>
            <option value="failed">failed</option>
            <option value="pending">pending</option>
          </select>
        </label>
        <label>
          Of subscription (empty: all)
          <input value={filters.subscription_id} onChange={(e) => setFilters({ ...filters, subscription_id: e.target.value })} placeholder="sub_…" />
        </label>
        <label>
          Created from
          <input type="datetime-local" step={1} value={filters.since} onChange={(e) => setFilters({ ...filters, since: e.target.value })} />
        </label>
        <label>
          until
          <input type="datetime-local" step={1} value={filters.until} onChange={(e) => setFilters({ ...filters, until: e.target.value })} />
        </label>
      </div>
      <div className="row">
        <button type="submit" className="primary" disabled={running}>
          Start retry
        </button>
        <button type="button" onClick={() => setOpen(false)}>
          Close
        </button>
      </div>
      {error ? <ErrorBox error={error} /> : null}
      {job ? (
        <div role="status" aria-label="Bulk retry progress" className="replay-progress">
          <Status status={job.status} /> <code>{job.id}</code>: {job.matched} matched, {job.retried} retried, {job.skipped} skipped
          {job.matched > 0 ? (
            <>
              {' '}
              <progress value={done} max={job.matched} aria-label="Retried or skipped of matched" />
            </>
          ) : null}
          {job.completed_at ? (
            <>
              {' '}
              · finished <Time at={job.completed_at} />
            </>
          ) : null}
          {job.error ? <p className="field-error">{job.error}</p> : null}
        </div>
      ) : null}
    </form>
  );
}
