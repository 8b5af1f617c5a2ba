/**
 * The families GET /metrics answers, from the running totals in Postgres (db/metric-totals.ts) and
 * each active tenant's TenantLog `status()` (accepted events: its last sequence, which every accepted
 * event takes one of, system events included; outbox depth and lag, dispatch depth). Pure: the lag is
 * measured against the `now` it is given.
 */
import type { MetricTotals } from '../db/metric-totals';
import { RATE_LIMIT_BYPASSED } from '../ingest/rejections';
import type { LogStatus } from '../ingest/log-types';
import type { Family, Sample } from './exposition';

/** Upper bounds of the attempt latency buckets in ms, as migration 0010's attempt_latency_bucket has them. */
export const LATENCY_BUCKETS_MS = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 15000, 30000] as const;
/** How the migration stores the +Inf bucket. */
const INF_BUCKET_MS = 2147483647;

export type LogFigures = Pick<LogStatus, 'lastSequence' | 'outboxDepth' | 'oldestOutboxAt' | 'dispatchDepth'>;

/** Seconds since the oldest event still waiting for Postgres was accepted; 0 when none waits (ms precision). */
export const outboxLagSeconds = (oldestOutboxAt: number | null, now: number): number =>
  oldestOutboxAt === null ? 0 : Math.max(0, now - oldestOutboxAt) / 1000;

export function scrapeFamilies(totals: MetricTotals, logs: ReadonlyMap<string, LogFigures>, now: number): Family[] {
  const perTenant = (pick: (t: MetricTotals['tenants'][number]) => number): Sample[] =>
    totals.tenants.map((t) => ({ labels: { tenant: t.tenant_id }, value: pick(t) }));
  const fromLog = (pick: (d: LogFigures) => number): Sample[] =>
    totals.tenants.flatMap((t) => {
      const d = logs.get(t.tenant_id);
      return d ? [{ labels: { tenant: t.tenant_id }, value: pick(d) }] : [];
    });
  return [
    {
      name: 'switchyard_ingest_events_total',
      type: 'counter',
      help: 'Events accepted (durable in the TenantLog; duplicates not counted, system events counted).',
      samples: fromLog((d) => d.lastSequence),
    },
    {
      name: 'switchyard_ingest_rejected_total',
      type: 'counter',
      help: 'Ingest requests refused, by problem code.',
      samples: totals.rejected.filter((r) => r.code !== RATE_LIMIT_BYPASSED).map((r) => ({ labels: { tenant: r.tenant_id, code: r.code }, value: r.total })),
    },
    {
      name: 'switchyard_ingest_rate_limit_bypassed_total',
      type: 'counter',
      help: 'Ingest requests over a rate limit let through because every event in them had priority critical.',
      samples: totals.rejected.filter((r) => r.code === RATE_LIMIT_BYPASSED).map((r) => ({ labels: { tenant: r.tenant_id }, value: r.total })),
    },
    {
      name: 'switchyard_deliveries_total',
      type: 'counter',
      help: 'Deliveries that reached a final status (delivered, failed, skipped), by subscription; subscriptions past the per-scrape limit are summed as "_other".',
      samples: totals.deliveries.map((d) => ({ labels: { tenant: d.tenant_id, subscription: d.subscription, status: d.status }, value: d.total })),
    },
    { name: 'switchyard_deliveries_pending', type: 'gauge', help: 'Deliveries not yet finished.', samples: perTenant((t) => t.pending) },
    {
      name: 'switchyard_delivery_attempt_duration_seconds',
      type: 'histogram',
      help: 'Time from the start of a delivery attempt to its outcome.',
      samples: latencySamples(totals.latency),
    },
    {
      name: 'switchyard_outbox_depth',
      type: 'gauge',
      help: 'Accepted events the TenantLog has not yet stored in Postgres.',
      samples: fromLog((d) => d.outboxDepth),
    },
    {
      name: 'switchyard_outbox_lag_seconds',
      type: 'gauge',
      help: 'Age of the oldest accepted event not yet stored in Postgres (0 when none waits): how far storage is behind acceptance.',
      samples: fromLog((d) => outboxLagSeconds(d.oldestOutboxAt, now)),
    },
    {
      name: 'switchyard_dispatch_depth',
      type: 'gauge',
      help: 'Delivery messages the TenantLog staged for the queue.',
      samples: fromLog((d) => d.dispatchDepth),
    },
    {
      name: 'switchyard_subscriptions_disabled',
      type: 'gauge',
      help: 'Subscriptions disabled (410 Gone, a failed probe of a long-open breaker, or by hand).',
      samples: perTenant((t) => t.disabled),
    },
    {
      name: 'switchyard_subscriptions_breaker_open',
      type: 'gauge',
      help: 'Enabled subscriptions whose circuit breaker is open (their deliveries wait for a probe to succeed).',
      samples: perTenant((t) => t.breaker_open),
    },
    { name: 'switchyard_subscriptions_paused', type: 'gauge', help: 'Enabled subscriptions paused by hand.', samples: perTenant((t) => t.paused) },
  ];
}

function latencySamples(rows: MetricTotals['latency']): Sample[] {
  const byTenant = new Map<string, Map<number, { count: number; sumMs: number }>>();
  for (const row of rows) {
    const buckets = byTenant.get(row.tenant_id) ?? new Map<number, { count: number; sumMs: number }>();
    buckets.set(row.le_ms, { count: row.count, sumMs: row.sum_ms });
    byTenant.set(row.tenant_id, buckets);
  }
  return [...byTenant].flatMap(([tenant, buckets]) => {
    let cumulative = 0;
    const samples: Sample[] = LATENCY_BUCKETS_MS.map((le) => {
      cumulative += buckets.get(le)?.count ?? 0;
      return { suffix: '_bucket', labels: { tenant, le: String(le / 1000) }, value: cumulative };
    });
    const count = cumulative + (buckets.get(INF_BUCKET_MS)?.count ?? 0);
    const sumMs = [...buckets.values()].reduce((sum, b) => sum + b.sumMs, 0);
    samples.push(
      { suffix: '_bucket', labels: { tenant, le: '+Inf' }, value: count },
      { suffix: '_sum', labels: { tenant }, value: sumMs / 1000 },
      { suffix: '_count', labels: { tenant }, value: count },
    );
    return samples;
  });
}
