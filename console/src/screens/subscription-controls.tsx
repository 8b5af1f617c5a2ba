/**
 * A subscription's delivery controls: pause, resume and disable (PATCH `status`), and the state of its
 * circuit breaker. A pause holds new and pending deliveries unattempted; resuming sends them, in order
 * for ordered lines. The breaker opens after `failure_threshold` failures in a row and probes on a
 * schedule; the API has no call to probe or reset it by hand, so the console only shows it.
 */
import { Time } from '../components/bits';
import type { components } from '../lib/api';

type Subscription = components['schemas']['Subscription'];
export type SubscriptionStatus = Subscription['status'];

export function StatusControls({ subscription, onChange }: { subscription: Subscription; onChange: (status: SubscriptionStatus) => void }) {
  const { status } = subscription;
  return (
    <>
      {status === 'active' ? (
        <button type="button" onClick={() => onChange('paused')} title="Hold new and pending deliveries until resumed">
          Pause
        </button>
      ) : null}
      {status === 'paused' ? (
        <button type="button" className="primary" onClick={() => onChange('active')} title="Send what the pause held, then deliver as usual">
          Resume
        </button>
      ) : null}
      {status === 'disabled' ? (
        <button type="button" onClick={() => onChange('active')}>
          Enable
        </button>
      ) : (
        <button type="button" onClick={() => onChange('disabled')}>
          Disable
        </button>
      )}
    </>
  );
}

/** The state line under the subscription's facts: what a pause or an open breaker means right now. */
export function PausedNote({ subscription }: { subscription: Subscription }) {
  if (subscription.status !== 'paused') return null;
  return (
    <p className="panel" role="status">
      Paused since <Time at={subscription.paused_at} />: new and pending deliveries are held, not attempted and never failed. Resume sends them.
    </p>
  );
}

export function BreakerState({ breaker }: { breaker: components['schemas']['CircuitBreaker'] }) {
  const tone = breaker.state === 'closed' ? 'delivered' : breaker.state === 'open' ? 'failed' : 'pending';
  return (
    <>
      <span className={`badge badge-${tone}`}>{breaker.state.replace('_', '-')}</span>
      {breaker.state === 'closed' ? (
        <span className="muted small"> deliveries are attempted</span>
      ) : (
        <span className="muted small">
          {' '}
          opened <Time at={breaker.opened_at} />; deliveries wait; next probe <Time at={breaker.next_probe_at} />
        </span>
      )}
    </>
  );
}
