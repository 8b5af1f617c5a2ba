/**
 * A subscription's health: success rate, latency p50/p95, failures in a row, and a sparkline of
 * delivered and failed attempts over the window, from GET …/subscriptions/{id}/health. A runtime without
 * that route (404) gets the same figures computed from the subscription's last deliveries.
 */
import { lazy, Suspense, useState } from 'react';
import { ApiError, api, type components, ok } from '../lib/api';
import { Loaded, milliseconds, percent, Stat, Time } from '../components/bits';
import { useResource } from '../lib/use-resource';
import { health } from './subscription-health';

const Chart = lazy(() => import('../components/sparkline'));
type Delivery = components['schemas']['Delivery'];
type Window = '1h' | '24h' | '7d';

export function HealthView({ tenant, id, recent, consecutiveFailures }: { tenant: string; id: string; recent: Delivery[]; consecutiveFailures: number }) {
  const [window, setWindow] = useState<Window>('24h');
  const report = useResource(
    () =>
      ok(
        api().GET('/v1/tenants/{tenantId}/subscriptions/{subscriptionId}/health', {
          params: { path: { tenantId: tenant, subscriptionId: id }, query: { window } },
        }),
      ).catch((error: unknown) => {
        if (error instanceof ApiError && (error.status === 404 || error.status === 405) && error.problem?.code !== 'subscription_not_found') return null;
        throw error;
      }),
    [tenant, id, window, recent],
  );
  return (
    <Loaded resource={report} what="Loading health">
      {(h) => {
        if (!h) return <FromDeliveries recent={recent} consecutiveFailures={consecutiveFailures} />;
        const times = h.series.map((p) => Date.parse(p.bucket) / 1000);
        return (
          <>
            <div className="row">
              <label className="inline">
                Window
                <select value={window} onChange={(e) => setWindow(e.target.value as Window)}>
                  <option value="1h">last hour (per minute)</option>
                  <option value="24h">last 24 hours (per hour)</option>
                  <option value="7d">last 7 days (per hour)</option>
                </select>
              </label>
            </div>
            <div className="stats">
              <Stat label="Success rate" value={percent(h.success_rate)} />
              <Stat label="Latency p50" value={milliseconds(h.latency_ms.p50)} />
              <Stat label="Latency p95" value={milliseconds(h.latency_ms.p95)} />
              <Stat label="Failures in a row" value={String(h.consecutive_failures)} />
              <Stat label="Attempts delivered / failed" value={`${h.delivered} / ${h.failed}`} />
            </div>
            <p className="muted small">
              Last success <Time at={h.last_success_at} />, last failure <Time at={h.last_failure_at} />. Latency is per attempt; the line shows delivered
              (green) and failed (red) attempts per {h.bucket}.
            </p>
            {times.length ? (
              <Suspense fallback={null}>
                <Chart
                  label={`Delivered and failed attempts per ${h.bucket}`}
                  times={times}
                  series={[
                    { label: 'delivered', values: h.series.map((p) => p.delivered), color: '#16a34a' },
                    { label: 'failed', values: h.series.map((p) => p.failed), color: '#dc2626' },
                  ]}
                  width={520}
                  height={80}
                />
              </Suspense>
            ) : null}
          </>
        );
      }}
    </Loaded>
  );
}

function FromDeliveries({ recent, consecutiveFailures }: { recent: Delivery[]; consecutiveFailures: number }) {
  if (recent.length === 0) return <p className="muted">No deliveries yet.</p>;
  const h = health(recent);
  return (
    <>
      <div className="stats">
        <Stat label="Success rate" value={percent(h.successRate)} />
        <Stat label="Latency p50" value={milliseconds(h.p50)} />
        <Stat label="Latency p95" value={milliseconds(h.p95)} />
        <Stat label="Failures in a row" value={String(consecutiveFailures)} />
        <Stat label="Failed / pending" value={`${h.failed} / ${h.pending}`} />
      </div>
      <p className="muted small">From the last {recent.length} deliveries; latency is accepted to delivered.</p>
      <Suspense fallback={null}>
        <Chart
          label="Latency of recent delivered deliveries"
          times={h.times}
          series={[{ label: 'latency ms', values: h.latencies, color: '#2563eb' }]}
          width={520}
          height={80}
        />
      </Suspense>
    </>
  );
}
