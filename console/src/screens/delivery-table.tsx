import { Status, Time } from '../components/bits';
import type { components } from '../lib/api';
import { Link } from '../lib/router';

type Delivery = components['schemas']['Delivery'];

export function DeliveryTable({ tenant, deliveries, show = 'both' }: { tenant: string; deliveries: Delivery[]; show?: 'event' | 'subscription' | 'both' }) {
  return (
    <table>
      <thead>
        <tr>
          <th scope="col">Delivery</th>
          <th scope="col">Status</th>
          {show !== 'subscription' ? <th scope="col">Event</th> : null}
          {show !== 'event' ? <th scope="col">Subscription</th> : null}
          <th scope="col">Attempts</th>
          <th scope="col">Last response</th>
          <th scope="col">Updated</th>
        </tr>
      </thead>
      <tbody>
        {deliveries.map((d) => (
          <tr key={d.id}>
            <td>
              <Link to={`/tenants/${tenant}/deliveries/${d.id}`}>
                <code>{d.id}</code>
              </Link>
            </td>
            <td>
              <Status status={d.status} />
            </td>
            {show !== 'subscription' ? (
              <td>
                <Link to={`/tenants/${tenant}/events/${d.event_id}`}>#{d.event_sequence}</Link>
              </td>
            ) : null}
            {show !== 'event' ? (
              <td>
                <Link to={`/tenants/${tenant}/subscriptions/${d.subscription_id}`}>
                  <code>{d.subscription_id}</code>
                </Link>
              </td>
            ) : null}
            <td className="num">{d.attempts}</td>
            <td>
              {d.last_status !== null ? <code>HTTP {d.last_status}</code> : null}{' '}
              {d.last_error ? <span className="muted small">{truncate(d.last_error, 60)}</span> : null}
              {d.last_status === null && !d.last_error ? <span className="muted">—</span> : null}
            </td>
            <td>
              <Time at={d.updated_at} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
