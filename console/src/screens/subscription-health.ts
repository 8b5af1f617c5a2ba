import type { components } from '../lib/api';

type Delivery = components['schemas']['Delivery'];

/** Health from recent deliveries: delivered share of the finished ones, accepted-to-delivered latency. */
export function health(deliveries: Delivery[]) {
  const delivered = deliveries.filter((d) => d.status === 'delivered' && d.finished_at);
  const failed = deliveries.filter((d) => d.status === 'failed').length;
  const pending = deliveries.filter((d) => d.status === 'pending').length;
  const finished = delivered.length + failed;
  const points = delivered
    .map((d) => ({ t: Date.parse(d.finished_at!) / 1000, ms: Date.parse(d.finished_at!) - Date.parse(d.created_at) }))
    .sort((a, b) => a.t - b.t);
  const sorted = points.map((p) => p.ms).sort((a, b) => a - b);
  // nearest rank
  const pct = (q: number) => (sorted.length ? sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]! : null);
  return {
    successRate: finished ? delivered.length / finished : null,
    p50: pct(0.5),
    p95: pct(0.95),
    failed,
    pending,
    times: points.map((p) => p.t),
    latencies: points.map((p) => p.ms),
  };
}
