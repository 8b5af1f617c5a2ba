/**
 * Metrics: the tenant's ingest and delivery figures over a chosen window (GET …/metrics), and charts of
 * the last minute's figures sampled every 10 s while this screen is open (the API reports windows, not
 * series, so the series is the console's own sampling).
 */
import { lazy, Suspense, useEffect, useState } from 'react';
import { Empty, ErrorBox, Loaded, PageHeader, Time } from '../components/bits';
import { api, type components, ok } from '../lib/api';
import { setQuery, useLocation } from '../lib/router';
import { useResource } from '../lib/use-resource';

const Chart = lazy(() => import('../components/sparkline'));
const WINDOWS = ['15m', '1h', '24h', '7d', '30d'];
const SAMPLE_MS = 10_000;
type Metrics = components['schemas']['TenantMetrics'];

export default function MetricsScreen({ tenant }: { tenant: string }) {
  const { query } = useLocation();
  const window = WINDOWS.includes(query.get('window') ?? '') ? query.get('window')! : '1h';
  const metrics = useResource(
    () => ok(api().GET('/v1/tenants/{tenantId}/metrics', { params: { path: { tenantId: tenant }, query: { window } } })),
    [tenant, window],
  );
  const samples = useSamples(tenant);
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
        <button type="button" onClick={metrics.reload}>
          Refresh
        </button>
      </PageHeader>
      <Loaded resource={metrics} what="Loading metrics">
        {(m) => <Figures m={m} />}
      </Loaded>
      <h2>Last minute, sampled every 10 s</h2>
      {samples.error ? <ErrorBox error={samples.error} /> : null}
      {samples.points.length < 2 ? (
        <p className="muted">Collecting samples… (charts appear after the second sample)</p>
      ) : (
        <Suspense fallback={null}>
          <div className="charts">
            <figure>
              <figcaption>Events accepted and rejected per minute</figcaption>
              <Chart
                axes
                label="Events accepted and rejected per minute"
                width={480}
                height={180}
                times={samples.points.map((p) => p.t)}
                series={[
                  { label: 'accepted', values: samples.points.map((p) => p.accepted), color: '#2563eb' },
                  { label: 'rejected', values: samples.points.map((p) => p.rejected), color: '#dc2626' },
                ]}
              />
            </figure>
            <figure>
              <figcaption>Deliveries per minute and success ratio (%)</figcaption>
              <Chart
                axes
                label="Deliveries per minute and success ratio"
                width={480}
                height={180}
                times={samples.points.map((p) => p.t)}
                series={[
                  { label: 'delivered', values: samples.points.map((p) => p.delivered), color: '#16a34a' },
                  { label: 'failed', values: samples.points.map((p) => p.failed), color: '#dc2626' },
                  { label: 'success %', values: samples.points.map((p) => p.ratio), color: '#7c3aed' },
                ]}
              />
            </figure>
            <figure>
              <figcaption>Accepted-to-delivered latency (ms)</figcaption>
              <Chart
                axes
                label="Accepted-to-delivered latency"
                width={480}
                height={180}
                times={samples.points.map((p) => p.t)}
                series={[
                  { label: 'p50', values: samples.points.map((p) => p.p50), color: '#0891b2' },
                  { label: 'p95', values: samples.points.map((p) => p.p95), color: '#ea580c' },
                ]}
              />
            </figure>
          </div>
        </Suspense>
      )}
    </>
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
        <Stat label="Success ratio" value={delivered + failed ? `${((delivered / (delivered + failed)) * 100).toFixed(1)} %` : '—'} />
        <Stat label="Latency p50" value={m.deliveries.latency_ms.p50 === null ? '—' : `${Math.round(m.deliveries.latency_ms.p50)} ms`} />
        <Stat label="Latency p95" value={m.deliveries.latency_ms.p95 === null ? '—' : `${Math.round(m.deliveries.latency_ms.p95)} ms`} />
        <Stat label="Pending deliveries" value={m.backlog.pending_deliveries} />
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

function Stat({ label, value }: { label: string; value: string | number }) {
  return (
    <div className="stat">
      <span className="stat-value">{value}</span>
      <span className="stat-label">{label}</span>
    </div>
  );
}

interface Point {
  t: number;
  accepted: number;
  rejected: number;
  delivered: number;
  failed: number;
  ratio: number | null;
  p50: number | null;
  p95: number | null;
}

function useSamples(tenant: string): { points: Point[]; error: Error | null } {
  const [points, setPoints] = useState<Point[]>([]);
  const [error, setError] = useState<Error | null>(null);
  useEffect(() => {
    let stopped = false;
    setPoints([]);
    const sample = async () => {
      try {
        const m = await ok(api().GET('/v1/tenants/{tenantId}/metrics', { params: { path: { tenantId: tenant }, query: { window: '1m' } } }));
        if (stopped) return;
        const delivered = m.deliveries.by_status.delivered ?? 0;
        const failed = m.deliveries.by_status.failed ?? 0;
        setError(null);
        setPoints((old) =>
          [
            ...old,
            {
              t: Date.now() / 1000,
              accepted: m.events.accepted,
              rejected: m.events.rejected.total,
              delivered,
              failed,
              ratio: delivered + failed ? (delivered / (delivered + failed)) * 100 : null,
              p50: m.deliveries.latency_ms.p50,
              p95: m.deliveries.latency_ms.p95,
            },
          ].slice(-360),
        );
      } catch (err) {
        if (!stopped) setError(err as Error);
      }
    };
    void sample();
    const timer = setInterval(sample, SAMPLE_MS);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, [tenant]);
  return { points, error };
}
