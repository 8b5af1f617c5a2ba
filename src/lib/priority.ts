/** The CloudEvents `priority` extension Switchyard reads (README "Priorities"); here in lib/ because ingest, delivery and the queue bodies share it. */
export const PRIORITIES = ['low', 'normal', 'high', 'critical'] as const;
export type Priority = (typeof PRIORITIES)[number];

/** The value of a `priority` attribute, or null when it is absent or not one of the four. */
export function priorityOf(value: unknown): Priority | null {
  return typeof value === 'string' && (PRIORITIES as readonly string[]).includes(value) ? (value as Priority) : null;
}
