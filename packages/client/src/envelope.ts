import type { CloudEvent, EventAttributes } from './events.ts';

export const DEFAULT_SOURCE = 'switchyard/client';

/**
 * The CloudEvent sent for an input: `specversion` "1.0", the producer's `source` and a random UUID
 * as `id` when the caller gives none. Done once, before the first request, so every retry carries
 * the same id and the runtime deduplicates it.
 */
export function toCloudEvent(input: { type: string; data?: unknown } & EventAttributes, source: string): CloudEvent {
  const { extensions, ...attributes } = input;
  const event: CloudEvent = { specversion: '1.0', ...extensions, ...attributes, id: input.id ?? crypto.randomUUID(), source: input.source ?? source };
  for (const key of Object.keys(event)) if (event[key] === undefined) delete event[key];
  return event;
}
