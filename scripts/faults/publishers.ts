/**
 * Steady producers for the fault scenarios: each loop sends one request at a time (single events,
 * or batches) and, like a well-behaved producer, resends the very same request while it gets no
 * answer, a 5xx or a 429, so every event it published ends acknowledged or refused for a reason.
 */
import { makeEvent, signedIngest, type EventOptions, type Source } from '../lib/switchyard-api.ts';
import { publish, type Ledger } from './ledger.ts';
import { sleep } from './harness.ts';

export interface PublisherOptions {
  ledger: Ledger;
  base: () => string;
  source: Source;
  label: string;
  singles: number;
  batches?: { clients: number; size: number };
  pauseMs?: number;
  /** Stop starting new requests once this returns true. */
  done: () => boolean;
  event?: (n: number) => EventOptions;
  /** How long one request is retried before giving up (it then stays unacknowledged). */
  retryForMs?: number;
}

export async function runPublishers(options: PublisherOptions): Promise<{ requests: number }> {
  let n = 0;
  let requests = 0;
  const loop = async (size: number) => {
    while (!options.done()) {
      const events = Array.from({ length: size }, () => {
        const i = ++n;
        return makeEvent(`${options.label}-${i}`, i, options.event?.(i));
      });
      requests++;
      await publish(
        options.ledger,
        options.base,
        signedIngest(options.source, events, size === 1 ? 'single' : 'batch'),
        Date.now() + (options.retryForMs ?? 60_000),
      );
      if (options.pauseMs) await sleep(options.pauseMs);
    }
  };
  const loops = [
    ...Array.from({ length: options.singles }, () => loop(1)),
    ...Array.from({ length: options.batches?.clients ?? 0 }, () => loop(options.batches!.size)),
  ];
  await Promise.all(loops);
  return { requests };
}
