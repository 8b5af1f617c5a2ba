/**
 * Metrics: the tenant's ingest and delivery figures over a chosen window (GET …/metrics) and the same
 * figures over time (GET …/metrics/series: per minute for 1h, per hour for 24h and 7d) as uPlot charts,
 * loaded lazily with the chart component.
 */
import { lazy, Suspense, useMemo } from 'react';
import { Empty, Loaded, Loading, milliseconds, PageHeader, percent, Stat, Time } from '../components/bits';
import type { Line } from '../components/series-chart';
import { api, type components, ok } from '../lib/api';
import { setQuery, useLocation } from '../lib/router';
import { useResource } from '../lib/use-resource';

const SeriesChart = lazy(() => import('../components/series-chart'));
const WINDOWS = ['1h', '24h', '7d'] as const;
type Window = (typeof WINDOWS)[number];
type Metrics = components['schemas']['TenantMetrics'];
type Series = components['schemas']['TenantMetricsSeries'];
/** Rejection codes drawn as their own line; the rest are summed as "other". */
const CODE_LINES = 5;
const PERCENT: [number, number] = [0, 100];
const CODE_COLORS = ['#dc2626', '#ea580c', '#ca8a04', '#db2777', '#7c3aed', '#6b7280'];

export default function MetricsScreen({ tenant }: { tenant: string }) {
  const { query } = useLocation();
  const window: Window = (WINDOWS as readonly string[]).includes(query.get('window') ?? '') ? (query.get('window') as Window) : '1h';
  const metrics = useResource(
    () => ok(api().GET('/v1/tenants/{tenantId}/metrics', { params: { path: { tenantId: tenant }, query: { window } } })),
    [tenant, window],
  );
  const series = useResource(
    () => ok(api().GET('/v1/tenants/{tenantId}/metrics/series', { params: { path: { tenantId: tenant }, query: { window } } })),
    [tenant, window],
  );
  return (
    <>
      <PageHeader title="Metrics">
        <label className="inline">
          Window
          <select value={window} onChange={(e) => setQuery({ window: e.target.value })}>
            {WINDOWS.map((w) => (
              <option key={w}>{w}</option>
            ))}
          </select>
        </label>
        <button
          type="button"
          onClick={() => {
            metrics.reload();
            series.reload();
          }}
        >
          Refresh
        </button>
      </PageHeader>
      <Loaded resource={metrics} what="Loading metrics">
        {(m) => <Figures m={m} />}
      </Loaded>
      <Loaded resource={series} what="Loading the metrics over time">
        {(s) => <Charts s={s} />}
      </Loaded>
    </>
  );
}

function Charts({ s }: { s: Series }) {
  const per = s.bucket_seconds === 60 ? 'minute' : 'hour';
  const data = useMemo(() => {
    const times = s.series.map((p) => Date.parse(p.at) / 1000);
    const totals = new Map<string, number>();
    for (const p of s.series) for (const [code, n] of Object.entries(p.rejected)) totals.set(code, (totals.get(code) ?? 0) + n);
    const codes = [...totals].sort((a, b) => b[1] - a[1]).map(([code]) => code);
    const named = codes.slice(0, CODE_LINES);
    const rejected: Line[] = named.map((code, i) => ({ label: code, color: CODE_COLORS[i]!, values: s.series.map((p) => p.rejected[code] ?? 0) }));
    if (codes.length > CODE_LINES) {
      rejected.push({
        label: 'other',
        color: CODE_COLORS[CODE_LINES]!,
        values: s.series.map((p) => Object.entries(p.rejected).reduce((n, [code, c]) => (named.includes(code) ? n : n + c), 0)),
      });
    }
    const rate = (n: number) => Math.round((n / s.bucket_seconds) * 1000) / 1000;
    return {
      times,
      accepted: [{ label: 'accepted/s', color: '#2563eb', values: s.series.map((p) => rate(p.events_accepted)) }],
      rejected,
      deliveries: [
        { label: 'delivered', color: '#16a34a', values: s.series.map((p) => p.deliveries_delivered) },
        { label: 'failed', color: '#dc2626', values: s.series.map((p) => p.deliveries_failed) },
      ],
      ratio: [{ label: 'success', color: '#7c3aed', values: s.series.map((p) => (p.success_ratio === null ? null : Math.round(p.success_ratio * 1000) / 10)) }],
      latency: [
        { label: 'p50', color: '#0891b2', values: s.series.map((p) => p.latency_ms.p50) },
        { label: 'p95', color: '#ea580c', values: s.series.map((p) => p.latency_ms.p95) },
      ],
      empty: s.series.every(
        (p) => p.events_accepted === 0 && p.attempts === 0 && p.deliveries_delivered === 0 && p.deliveries_failed === 0 && codes.length === 0,
      ),
    };
  }, [s]);
  return (
    <section aria-label="Metrics over time">
      <h2>Over time, per {per}</h2>
      <p className="muted small">
        From <Time at={s.from} /> to <Time at={s.to} />
        {s.truncated ? ' · attempt figures cover the newest attempts only (the window held more than the read cap)' : ''}
      </p>
      {data.empty ? (
        <Empty>
          <p>Nothing happened in this window: no events, rejected requests or deliveries.</p>
        </Empty>
      ) : (
        <Suspense fallback={<Loading what="Loading charts" />}>
          <div className="charts">
            <figure>
              <figcaption>Events accepted per second</figcaption>
              <SeriesChart label="Events accepted per second" times={data.times} lines={data.accepted} />
            </figure>
            <figure>
              <figcaption>Rejected requests per {per}, by code</figcaption>
              {data.rejected.length === 0 ? (
                <p className="muted">No rejected requests in this window.</p>
              ) : (
                <SeriesChart label={`Rejected requests per ${per} by code`} times={data.times} lines={data.rejected} />
              )}
            </figure>
            <figure>
              <figcaption>Deliveries per {per} (by creation), delivered and failed</figcaption>
              <SeriesChart label={`Deliveries delivered and failed per ${per}`} times={data.times} lines={data.deliveries} />
            </figure>
            <figure>
              <figcaption>Attempt success ratio (%)</figcaption>
              <SeriesChart label="Attempt success ratio" times={data.times} lines={data.ratio} unit="%" range={PERCENT} />
            </figure>
            <figure>
              <figcaption>Attempt latency p50 / p95 (ms): one HTTP exchange each</figcaption>
              <SeriesChart label="Attempt latency p50 and p95" times={data.times} lines={data.latency} unit=" ms" />
            </figure>
          </div>
        </Suspense>
      )}
    </section>
  );
}

function Figures({ m }: { m: Metrics }) {
  const byStatus = Object.entries(m.deliveries.by_status);
  const delivered = m.deliveries.by_status.delivered ?? 0;
  const failed = m.deliveries.by_status.failed ?? 0;
  const rejected = Object.entries(m.events.rejected.by_reason).sort((a, b) => b[1] - a[1]);
  return (
    <>
      <p className="muted small">
        From <Time at={m.from} /> to <Time at={m.to} />
      </p>
      <div className="stats">
        <Stat label="Events accepted" value={m.events.accepted} />
        <Stat label="Requests rejected" value={m.events.rejected.total} />
        <Stat label="Quarantined" value={m.events.quarantined} />
        <Stat
          label="Delivery success"
          value={percent(delivered + failed ? delivered / (delivered + failed) : null)}
          title="Deliveries delivered among those settled (delivered or failed); the chart below counts attempts, a retried delivery's failures included"
        />
        <Stat label="Accepted → delivered p50" value={milliseconds(m.deliveries.latency_ms.p50)} title={TO_DELIVERED} />
        <Stat label="Accepted → delivered p95" value={milliseconds(m.deliveries.latency_ms.p95)} title={TO_DELIVERED} />
        <Stat label="Pending deliveries" value={m.backlog.pending_deliveries} />
        <Stat label="Not yet stored" value={storageBacklog(m.backlog)} />
      </div>
      <div className="two">
        <section>
          <h2>Deliveries by status</h2>
          {byStatus.length === 0 ? (
            <Empty>
              <p>No deliveries in this window.</p>
            </Empty>
          ) : (
            <table>
              <tbody>
                {byStatus.map(([status, n]) => (
                  <tr key={status}>
                    <th scope="row">{status}</th>
                    <td className="num">{n}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
        <section>
          <h2>Rejected requests by code</h2>
          {rejected.length === 0 ? (
            <Empty>
              <p>No rejected requests in this window.</p>
            </Empty>
          ) : (
            <table>
              <tbody>
                {rejected.map(([code, n]) => (
                  <tr key={code}>
                    <th scope="row">
                      <code>{code}</code>
                    </th>
                    <td className="num">{n}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
      </div>
    </>
  );
}

/** Events accepted but not yet in Postgres (the TenantLog's outbox), and how long ago the oldest of them was accepted. */
function storageBacklog(backlog: Metrics['backlog']): string {
  if (backlog.outbox === 0) return '0';
  const lag = backlog.outbox_lag_seconds;
  return `${backlog.outbox} · ${lag < 10 ? lag.toFixed(1) : Math.round(lag)} s behind`;
}

/** The headline latency is the whole wait, unlike the chart's per-attempt HTTP latency (delivery_attempts.latency_ms). */
const TO_DELIVERED =
  "From the event's acceptance to its delivered attempt, retries and backoff included (the chart below shows each attempt's own HTTP latency)";
