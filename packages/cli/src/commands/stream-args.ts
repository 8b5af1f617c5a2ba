/** Flags and signal handling shared by `listen` and `tail`. */
import { isStreamPosition } from '@switchyard/client';
import { usageError } from '../errors.ts';

export const filterArgs = {
  types: { type: 'string', description: 'comma-separated type patterns (orders.*, *.failed, **); default: all but switchyard.*', valueHint: 'patterns' },
  where: { type: 'string', description: 'a filter in the subscription where language, JSON: {"data.amount":{"$gt":100}}', valueHint: 'json' },
} as const;

export function typesList(types: string | undefined): string[] | undefined {
  if (types === undefined) return undefined;
  const list = types
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);
  if (list.length === 0) throw usageError('error: --types needs at least one pattern');
  return list;
}

/** `--since`: a sequence, or for a tenant with more than one shard a comma list of per-shard ones. */
export function sinceFlag(since: string | undefined): string | null {
  if (since === undefined) return null;
  if (!isStreamPosition(since) || since.split(',').some((n) => !Number.isSafeInteger(Number(n))))
    throw usageError('error: --since must be an integer >= 0, or a comma list of one per shard');
  return since;
}

/**
 * An AbortSignal for Ctrl-C / SIGTERM: the first one lets the event in flight finish (so its
 * outcome is reported and the cursor is right), a second one exits at once.
 */
export function interruptible(): { signal: AbortSignal; done(): void } {
  const controller = new AbortController();
  const onSignal = () => {
    if (controller.signal.aborted) process.exit(130);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: controller.signal,
    done() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}
