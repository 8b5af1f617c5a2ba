/** Bodies of the delivery queue's messages, versioned (`noun.vN`); parsed with zod on receipt. Here in lib/ because producers in every layer (routes, the TenantLog, pause/resume) and the consumer in queues/ share them. */
import { z } from 'zod';
import { PRIORITIES } from './priority';

export const deliveryV1 = z.object({
  type: z.literal('delivery.v1'),
  tenant_id: z.string(),
  delivery_id: z.string(),
  subscription_id: z.string(),
  /** Set for `ordering: "partition"` subscriptions: the TenantLog releases the next one after this one ends. */
  partition_key: z.string().nullable(),
  /** The lane (queue) the delivery travels on; absent in messages sent before lanes: `normal`. */
  priority: z.enum(PRIORITIES).optional(),
  /** A scheduled delivery's due time (epoch ms): the TenantLog sends the message delayed until then (src/delivery/schedule.ts). */
  not_before: z.number().optional(),
  /** The shard of the tenant whose ordered line holds the delivery (tenancy/shard-routing.ts); absent: 0. */
  shard: z.number().int().min(0).optional(),
  /**
   * Its event's `received_at` (epoch ms), the partition key of `deliveries` and `events`: the consumer's
   * claim then reads one partition of each instead of planning over all (db/deliveries-consumer.ts).
   * Set by the TenantLog's flush and ordered lines (moved lines keep it), manual and bulk retries
   * (resumes too), replays, the sync path's dead letters, and the resends of the redrive and schedule
   * sweeps and breaker probes (which also fill it in on the ordered-line rows they name). Absent in
   * messages sent before it, and for ordered-line rows written before their `received_at` column that
   * no redrive has named since (their release, or a probe's resend of the in-flight head it found
   * instead): the claim then reads every partition.
   */
  event_received_at: z.number().optional(),
});

/** The most a replay message counts its waits (replay-step.ts stops counting there; its delay stopped growing long before). */
export const MAX_REPLAY_WAITS = 1_000_000;

export const replayV1 = z.object({
  type: z.literal('replay.v1'),
  tenant_id: z.string(),
  replay_id: z.string(),
  /** Steps in a row that found the rest of the range not stored by every shard yet, and nothing new (replay-step.ts backs off on it). */
  waits: z.number().int().min(0).max(MAX_REPLAY_WAITS).optional(),
});

/** One step of a bulk retry (src/queues/retry-step.ts); steps chain until the job completes. */
export const retryV1 = z.object({
  type: z.literal('retry.v1'),
  tenant_id: z.string(),
  retry_id: z.string(),
});

export const queueMessage = z.discriminatedUnion('type', [deliveryV1, replayV1, retryV1]);

export type DeliveryMessage = z.infer<typeof deliveryV1>;
export type ReplayMessage = z.infer<typeof replayV1>;
export type RetryMessage = z.infer<typeof retryV1>;
export type QueueMessage = z.infer<typeof queueMessage>;
