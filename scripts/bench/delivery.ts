/**
 * Accepted-to-delivered latency: events sent one at a time at a steady rate to a tenant with a
 * webhook subscription pointing at the local receiver; latency is the receiver's arrival time minus
 * the moment the ingest request was sent (and minus the moment its 202 arrived, reported apart).
 */
import type { Receiver } from '../lib/receiver.ts';
import { makeEvent, send, signedIngest, type Source } from '../lib/switchyard-api.ts';
import { percentiles, type Percentiles } from '../lib/percentiles.ts';

export interface DeliveryLatency {
  events: number;
  ratePerSecond: number;
  acknowledged: number;
  delivered: number;
  /** Receipt minus send. */
  sentToDeliveredMs: Percentiles;
  /** Receipt minus 202. */
  ackedToDeliveredMs: Percentiles;
  ingestMs: Percentiles;
}

export async function measureDeliveryLatency(options: {
  base: string;
  source: Source;
  receiver: Receiver;
  path: string;
  events: number;
  ratePerSecond: number;
}): Promise<DeliveryLatency> {
  const { base, source, receiver, path, events, ratePerSecond } = options;
  const runTag = Date.now().toString(36);
  const prepared = Array.from({ length: events }, (_, i) => signedIngest(source, [makeEvent(`lat-${runTag}-${i}`, i)], 'single'));
  const sentAt = new Map<string, number>();
  const ackedAt = new Map<string, number>();
  const ingest: number[] = [];
  const interval = 1000 / ratePerSecond;
  const started = performance.now();
  const inflight: Promise<void>[] = [];
  for (let i = 0; i < prepared.length; i++) {
    const due = started + i * interval;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const request = prepared[i]!;
    const id = request.ids[0]!;
    sentAt.set(id, Date.now());
    const t0 = performance.now();
    inflight.push(
      send(base, request).then((result) => {
        ingest.push(performance.now() - t0);
        if (result.status === 202) ackedAt.set(id, Date.now());
      }),
    );
  }
  await Promise.all(inflight);
  const arrived = await receiver.waitFor(path, ackedAt.size, 30_000).catch(() => receiver.received.filter((r) => r.path === path));
  const firstArrival = new Map<string, number>();
  for (const request of arrived) {
    const id = (JSON.parse(request.body) as { id?: string }).id;
    if (id && !firstArrival.has(id)) firstArrival.set(id, request.at);
  }
  const sent: number[] = [];
  const acked: number[] = [];
  for (const [id, at] of firstArrival) {
    if (sentAt.has(id)) sent.push(at - sentAt.get(id)!);
    if (ackedAt.has(id)) acked.push(at - ackedAt.get(id)!);
  }
  return {
    events,
    ratePerSecond,
    acknowledged: ackedAt.size,
    delivered: firstArrival.size,
    sentToDeliveredMs: percentiles(sent),
    ackedToDeliveredMs: percentiles(acked),
    ingestMs: percentiles(ingest),
  };
}
