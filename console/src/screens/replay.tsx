/** Re-delivers stored events of a time range to one subscription, following the replay's progress. */
import { type FormEvent, useEffect, useState } from 'react';
import { ErrorBox, Status, Time } from '../components/bits';
import { api, type components, ok } from '../lib/api';
import { Link } from '../lib/router';

type Replay = components['schemas']['Replay'];

/** `datetime-local` wants local wall-clock time without a zone. */
function localInput(date: Date): string {
  const shifted = new Date(date.getTime() - date.getTimezoneOffset() * 60_000);
  return shifted.toISOString().slice(0, 19);
}

export function ReplayPanel({ tenant, subscription }: { tenant: string; subscription: string }) {
  const [open, setOpen] = useState(false);
  const [from, setFrom] = useState(() => localInput(new Date(Date.now() - 3_600_000)));
  const [to, setTo] = useState('');
  const [replay, setReplay] = useState<Replay | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const running = replay?.status === 'running';

  useEffect(() => {
    if (!running || !replay) return;
    const timer = setInterval(async () => {
      try {
        setReplay(await ok(api().GET('/v1/tenants/{tenantId}/replays/{replayId}', { params: { path: { tenantId: tenant, replayId: replay.id } } })));
      } catch (err) {
        setError(err as Error);
      }
    }, 1000);
    return () => clearInterval(timer);
  }, [running, replay, tenant]);

  const start = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      setReplay(
        await ok(
          api().POST('/v1/tenants/{tenantId}/replays', {
            params: { path: { tenantId: tenant } },
            body: { subscription_id: subscription, from: new Date(from).toISOString(), ...(to ? { to: new Date(to).toISOString() } : {}) },
          }),
        ),
      );
    } catch (err) {
      setError(err as Error);
    }
  };

  if (!open)
    return (
      <button type="button" onClick={() => setOpen(true)}>
        Replay events
      </button>
    );
  return (
    <form className="panel form" onSubmit={start} aria-label="Replay events">
      <h2>Replay events to this subscription</h2>
      <p className="muted small">Sends the stored events it matches (its types and filter) received in the range again, as new deliveries.</p>
      <div className="row">
        <label>
          Received from
          <input type="datetime-local" step={1} value={from} onChange={(e) => setFrom(e.target.value)} required />
        </label>
        <label>
          until (empty: now)
          <input type="datetime-local" step={1} value={to} onChange={(e) => setTo(e.target.value)} />
        </label>
      </div>
      <div className="row">
        <button type="submit" className="primary" disabled={running}>
          Start replay
        </button>
        <button type="button" onClick={() => setOpen(false)}>
          Close
        </button>
      </div>
      {error ? <ErrorBox error={error} /> : null}
      {replay ? (
        <div role="status" className="replay-progress">
          <Status status={replay.status} /> <code>{replay.id}</code>: {replay.events_matched} events in the range, {replay.deliveries} deliveries created, at
          sequence {replay.cursor_sequence}
          {replay.completed_at ? (
            <>
              {' '}
              · finished <Time at={replay.completed_at} />
            </>
          ) : null}
          {replay.error ? <p className="field-error">{replay.error}</p> : null}
          {replay.status === 'completed' ? (
            <p>
              <Link to={`/tenants/${tenant}/deliveries?subscription_id=${encodeURIComponent(subscription)}`}>See the deliveries</Link>
            </p>
          ) : null}
        </div>
      ) : null}
    </form>
  );
}
