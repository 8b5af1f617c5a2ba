/** Producers for tests and for switching sending off; both keep the real producer's interface. */
import { DEFAULT_SOURCE, toCloudEvent } from './envelope.ts';
import type { CloudEvent, EventInput, EventMap } from './events.ts';
import type { BatchItemResult, Producer, SendResult } from './producer.ts';

export interface MemoryProducer<Events extends object = EventMap> extends Producer<Events> {
  /** Every event sent, as the CloudEvent the real producer would post (id, specversion, source filled). */
  readonly sent: CloudEvent[];
  /** Forgets what was sent. */
  clear(): void;
}

/**
 * Records sends instead of posting them. Answers as the runtime would: sequences count up, and an id
 * sent before (per source) comes back as `duplicate: true` with its first sequence, without a second record.
 */
export function memoryProducer<Events extends object = EventMap>(options: { source?: string } = {}): MemoryProducer<Events> {
  const sent: CloudEvent[] = [];
  const seen = new Map<string, number>();
  const source = options.source ?? DEFAULT_SOURCE;
  const accept = (input: EventInput<Events>) => {
    const event = toCloudEvent(input, source);
    const key = JSON.stringify([event.source, event.id]);
    const first = seen.get(key);
    if (first !== undefined) return { id: `evt_memory_${first}`, sequence: first, duplicate: true };
    sent.push(event);
    seen.set(key, sent.length);
    return { id: `evt_memory_${sent.length}`, sequence: sent.length, duplicate: false };
  };
  return {
    sent,
    clear() {
      sent.length = 0;
      seen.clear();
    },
    async send(event): Promise<SendResult> {
      return accept(event);
    },
    async sendBatch(events) {
      return { results: events.map((event): BatchItemResult => ({ status: 202, ...accept(event) })) };
    },
  };
}

/** Accepts everything and sends nothing (sequence 0), e.g. when no ingest URL is configured. */
export function noopProducer<Events extends object = EventMap>(): Producer<Events> {
  const accepted = { id: '', sequence: 0, duplicate: false };
  return {
    async send() {
      return { ...accepted };
    },
    async sendBatch(events) {
      return { results: events.map((): BatchItemResult => ({ status: 202, ...accepted })) };
    },
  };
}
