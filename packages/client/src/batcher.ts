/**
 * Buffers events and sends them with `sendBatch` when `maxEvents` are waiting or `maxWaitMs` after the
 * first one arrived, whichever comes first. Batches are sent one after another, in the order the
 * events were added. On Workers, keep the request alive until the buffer is out:
 * `ctx.waitUntil(batcher.flush())`.
 */
import type { EventInput, EventMap } from './events.ts';
import type { BatchItemResult, Producer } from './producer.ts';

export interface BatcherOptions<Events extends object = EventMap> {
  maxEvents?: number;
  maxWaitMs?: number;
  /**
   * Called when a batch sent on its own (size or time reached) fails. Without it, the error is
   * thrown by the next `flush()` or `close()` instead.
   */
  onError?: (error: unknown, events: EventInput<Events>[]) => void;
}

export interface Batcher<Events extends object = EventMap> {
  add(event: EventInput<Events>): void;
  /**
   * Sends what is buffered and waits for every batch sent before; resolves with the results of the
   * events this call sent. Rejects when its own batch failed, or an earlier automatic one failed
   * without an `onError` (a `BatcherError` holding those events, so they can be sent again).
   */
  flush(): Promise<BatchItemResult[]>;
  /** Flushes, then refuses further `add`s. */
  close(): Promise<BatchItemResult[]>;
  /** Events waiting to be sent. */
  readonly size: number;
}

export class BatcherError<Events extends object = EventMap> extends Error {
  readonly events: EventInput<Events>[];
  constructor(events: EventInput<Events>[], cause: unknown) {
    super(`a batch of ${events.length} events could not be sent: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'BatcherError';
    this.events = events;
  }
}

export function batcher<Events extends object = EventMap>(producer: Producer<Events>, options: BatcherOptions<Events> = {}): Batcher<Events> {
  const maxEvents = options.maxEvents ?? 100;
  const maxWaitMs = options.maxWaitMs ?? 1000;
  let buffer: EventInput<Events>[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  let queue: Promise<unknown> = Promise.resolve();
  let unreported: BatcherError<Events>[] = [];
  let closed = false;

  const send = (automatic: boolean): Promise<BatchItemResult[]> => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    const events = buffer;
    buffer = [];
    const sent = queue.then(async () => (events.length === 0 ? [] : (await producer.sendBatch(events)).results));
    queue = sent.catch((error: unknown) => {
      if (!automatic) return;
      if (options.onError) options.onError(error, events);
      else unreported.push(new BatcherError(events, error));
    });
    return sent;
  };

  const flush = async (): Promise<BatchItemResult[]> => {
    const results = await send(false);
    await queue;
    const failed = unreported;
    unreported = [];
    if (failed.length === 1) throw failed[0];
    if (failed.length > 1)
      throw new BatcherError(
        failed.flatMap((f) => f.events),
        new AggregateError(failed.map((f) => f.cause)),
      );
    return results;
  };

  return {
    add(event) {
      if (closed) throw new Error('the batcher is closed');
      buffer.push(event);
      if (buffer.length >= maxEvents) void send(true).catch(() => {});
      else if (timer === undefined) timer = setTimeout(() => void send(true).catch(() => {}), maxWaitMs);
    },
    flush,
    close() {
      closed = true;
      return flush();
    },
    get size() {
      return buffer.length;
    },
  };
}
