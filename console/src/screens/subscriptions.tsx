/** A tenant's subscriptions: what each listens to, where it delivers, whether it is on. */
import { Empty, Loaded, PageHeader } from '../components/bits';
import { Pager, useCursor } from '../components/pager';
import { api, type components, ok } from '../lib/api';
import { Link } from '../lib/router';
import { can } from '../lib/session';
import { useSession } from '../lib/session-context';
import { useResource } from '../lib/use-resource';

type Subscription = components['schemas']['Subscription'];

export function actionLabel(action: Subscription['action']): string {
  const config = action.config as Record<string, unknown> | undefined;
  if (typeof action.plugin_id === 'string') return `plugin ${action.plugin_id}`;
  if (typeof config?.url === 'string') return `${String(action.type ?? 'webhook')} → ${config.url}`;
  return String(action.type ?? 'action');
}

/** `active`, `paused` (deliveries held) or `disabled`; runtimes without pausing report only `enabled`. */
export function SubscriptionState({ subscription }: { subscription: Subscription }) {
  const state = (subscription as Partial<Subscription>).status ?? (subscription.enabled ? 'active' : 'disabled');
  const tone = state === 'active' ? 'delivered' : state === 'paused' ? 'pending' : 'failed';
  return <span className={`badge badge-${tone}`}>{state}</span>;
}

export default function Subscriptions({ tenant }: { tenant: string }) {
  const session = useSession();
  const pages = useCursor(tenant);
  const list = useResource(
    () => ok(api().GET('/v1/tenants/{tenantId}/subscriptions', { params: { path: { tenantId: tenant }, query: { cursor: pages.cursor, limit: 50 } } })),
    [tenant, pages.cursor],
  );
  const writable = can(session, 'subscriptions', 'write');
  return (
    <>
      <PageHeader title="Subscriptions">
        {writable ? (
          <Link className="button primary" to={`/tenants/${tenant}/subscriptions/new`}>
            New subscription
          </Link>
        ) : null}
      </PageHeader>
      <Loaded resource={list} what="Loading subscriptions">
        {(page) =>
          page.data.length === 0 ? (
            <Empty>
              <p>No subscriptions yet. A subscription sends the events whose types match its patterns to an endpoint.</p>
            </Empty>
          ) : (
            <>
              <table>
                <thead>
                  <tr>
                    <th scope="col">Subscription</th>
                    <th scope="col">Types</th>
                    <th scope="col">Delivers to</th>
                    <th scope="col">State</th>
                  </tr>
                </thead>
                <tbody>
                  {page.data.map((s) => (
                    <tr key={s.id}>
                      <td>
                        <Link to={`/tenants/${tenant}/subscriptions/${s.id}`}>{s.name || <code>{s.id}</code>}</Link>
                      </td>
                      <td>
                        {s.types.map((t) => (
                          <code key={t} className="chip">
                            {t}
                          </code>
                        ))}
                      </td>
                      <td className="wrap">{actionLabel(s.action)}</td>
                      <td>
                        <SubscriptionState subscription={s} />
                        {s.consecutive_failures > 0 ? <span className="muted small"> {s.consecutive_failures} failing in a row</span> : null}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
              <Pager page={pages.page} nextCursor={page.next_cursor} onNext={pages.next} onPrevious={pages.previous} />
            </>
          )
        }
      </Loaded>
    </>
  );
}
