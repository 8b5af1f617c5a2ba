import { pgDelta, type PgFrameCounter } from '../lib/pg-frames.ts';
import type { Receiver } from '../lib/receiver.ts';
import { createSource, createWebhookSubscription, makeEvent, send, signedIngest, type Api } from '../lib/switchyard-api.ts';
import { summarizePg, waitStored } from './cases.ts';
import type { BenchReport } from './report.ts';

/** Ingest's own lookups: the source (src/db/sources.ts) and the tenant's rules (src/db/event-types.ts). */
const INGEST_LOOKUP = /^SELECT s\.id, s\.tenant_id|json_agg\(p ORDER BY p\.position/;

/** Everything that is neither the flush path nor an ingest lookup: the queue consumer's claims, checks and records. */
export function consumerRoundTrips(postgres: ReturnType<typeof summarizePg>): number {
  const lookups = Object.entries(postgres.statements)
    .filter(([sql]) => INGEST_LOOKUP.test(sql))
    .reduce((sum, [, s]) => sum + s.count, 0);
  return postgres.otherRoundTrips - lookups;
}

/** Deliveries end to end: 2,000 events in batches of 100 to a tenant with one webhook subscription. */
export async function measureDeliveryThroughput(
  api: Api,
  base: string,
  databaseUrl: string,
  receiver: Receiver,
  pg: PgFrameCounter,
  log: (line: string) => void,
): Promise<BenchReport['deliveryThroughput']> {
  const events = 2_000;
  const source = await createSource(api, 'bench delivery throughput');
  await createWebhookSubscription(api, source.tenantId, `${receiver.url}/throughput`);
  const tag = Date.now().toString(36);
  const requests = Array.from({ length: events / 100 }, (_, b) =>
    signedIngest(
      source,
      Array.from({ length: 100 }, (_, i) => makeEvent(`thr-${tag}-${b * 100 + i}`, b * 100 + i)),
      'batch',
    ),
  );
  log(`bench: delivery throughput, ${events} events with one webhook subscription…`);
  const before = pg.snapshot();
  const started = Date.now();
  // the first batch alone (warms the source cache), the rest at once
  const answers = [await send(base, requests[0]!), ...(await Promise.all(requests.slice(1).map((r) => send(base, r))))];
  const accepted = answers.filter((a) => a.status === 202).length * 100;
  if (accepted < events) log(`bench: only ${accepted} of ${events} events were accepted: ${answers.map((a) => a.status).join(',')}`);
  await waitStored(databaseUrl, source.tenantId, accepted, Date.now(), 30_000);
  const arrived = await receiver.waitFor('/throughput', accepted, 60_000).catch(() => receiver.received.filter((r) => r.path === '/throughput'));
  const deliveredMs = Date.now() - started;
  // the consumer's last round trip (recording the attempts) may still be in flight
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const postgres = summarizePg(pgDelta(pg.snapshot(), before), accepted);
  const consumer = consumerRoundTrips(postgres);
  const result = {
    events: arrived.length,
    deliveredMs,
    deliveriesPerSecond: Math.round(arrived.length / (deliveredMs / 1000)),
    postgres,
    consumerRoundTripsPer1000: Math.round((consumer / Math.max(1, arrived.length)) * 1000 * 100) / 100,
  };
  log(
    `bench: ${result.events} deliveries in ${deliveredMs} ms (${result.deliveriesPerSecond}/s), ${postgres.roundTripsPer1000Events} round trips per 1000 events`,
  );
  return result;
}
