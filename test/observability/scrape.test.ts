/**
 * The outbox lag of GET /metrics and the tenant metrics API: how long ago the oldest event still waiting
 * for Postgres was accepted, taken from the TenantLogs' status (the oldest of any shard's) and rendered
 * as Prometheus text that a real parser reads back.
 */
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { describe, expect, it } from 'vitest';
import type { MetricTotals } from '../../src/db/metric-totals';
import type { LogStatus } from '../../src/ingest/log-types';
import { sumStatuses } from '../../src/ingest/shard-status';
import { renderExposition } from '../../src/observability/exposition';
import { outboxLagSeconds, scrapeFamilies } from '../../src/observability/scrape';
import { SEQUENCE_STRIDE } from '../../src/tenancy/shard-routing';

const tenant = (tenant_id: string) => ({ tenant_id, shards: 1, pending: 0, disabled: 0, breaker_open: 0, paused: 0 });

function shardStatus(shard: number, outboxDepth: number, oldestOutboxAt: number | null): LogStatus {
  return {
    tenantId: 'tn_lag',
    shard,
    lastSequence: shard * SEQUENCE_STRIDE + outboxDepth,
    configVersion: 1,
    outboxDepth,
    oldestOutboxAt,
    dispatchDepth: 0,
    orderedDepth: 0,
    flushFailures: 0,
    nextFlushAt: null,
    quarantined: 0,
  };
}

describe('outbox lag', () => {
  it('is the age of the oldest waiting event in seconds, and 0 when none waits or the clock is behind', () => {
    expect(outboxLagSeconds(null, 1_000_000)).toBe(0);
    expect(outboxLagSeconds(1_000_000 - 2_345, 1_000_000)).toBe(2.345);
    // a stamp just ahead of this isolate's clock is no negative lag
    expect(outboxLagSeconds(1_000_050, 1_000_000)).toBe(0);
  });

  it('takes the oldest waiting event of any shard, and ignores shards with an empty outbox', () => {
    const summed = sumStatuses([shardStatus(0, 0, null), shardStatus(1, 40, 5_000), shardStatus(2, 3, 4_200), shardStatus(3, 0, null)]);
    expect(summed).toMatchObject({ outboxDepth: 43, oldestOutboxAt: 4_200 });
    expect(sumStatuses([shardStatus(0, 0, null), shardStatus(1, 0, null)]).oldestOutboxAt).toBeNull();
    // a shard still running the code before the lag (during a deploy) answers without the field
    const { oldestOutboxAt: _, ...older } = shardStatus(1, 5, 0);
    expect(sumStatuses([shardStatus(0, 2, 9_000), older as LogStatus]).oldestOutboxAt).toBe(9_000);
    expect(sumStatuses([older as LogStatus]).oldestOutboxAt).toBeNull();
  });

  it('is a gauge per tenant in the scrape, read back by a Prometheus text parser', () => {
    const now = Date.UTC(2026, 10, 30, 12);
    const totals: MetricTotals = { tenants: [tenant('tn_behind'), tenant('tn_caught_up')], rejected: [], deliveries: [], latency: [] };
    const logs = new Map([
      ['tn_behind', { lastSequence: 900, outboxDepth: 700, oldestOutboxAt: now - 12_500, dispatchDepth: 0 }],
      ['tn_caught_up', { lastSequence: 50, outboxDepth: 0, oldestOutboxAt: null, dispatchDepth: 0 }],
    ]);
    for (const format of ['prometheus', 'openmetrics'] as const) {
      const text = renderExposition(scrapeFamilies(totals, logs, now), format);
      const lag = parsePrometheusTextFormat(text).find((f) => f.name === 'switchyard_outbox_lag_seconds');
      expect(lag?.type, format).toBe('GAUGE');
      expect(lag?.metrics.map((m) => [m.labels?.tenant, Number(m.value)])).toEqual([
        ['tn_behind', 12.5],
        ['tn_caught_up', 0],
      ]);
    }
  });
});
