/** The TenantLog's RPC shapes: what ingest appends and what the log answers; the DO implements them. */

export interface AppendItem {
  sourceId: string;
  ceId: string;
  sha256: string;
  type: string;
  subject: string | null;
  time: string | null;
  partitionKey: string | null;
  correlationId: string | null;
  causationId: string | null;
  /** The CloudEvent as stored, JSON text. */
  json: string;
  /** The event type's schema version that validated the event (null: the type has no schema); stored in `events.schema_version`. */
  schemaVersion?: number | null;
  /** The `expectedsequence` extension: written only if `subject`'s last sequence equals it (0: none yet). */
  expectedSequence?: number | null;
}

export interface AppendRequest {
  tenantId: string;
  dedupWindowSeconds: number;
  /** The tenant config version the items were verified and validated under. */
  configVersion: number;
  items: AppendItem[];
}

/**
 * `stale`: the log has seen a newer tenant config; nothing was written, reload and try again.
 * `gone`: the tenant was deleted; nothing was written.
 */
export type AppendResponse = { kind: 'appended'; results: AppendResult[] } | { kind: 'stale'; configVersion: number } | { kind: 'gone' };

/** `sequence_conflict`: the subject's head is not the event's `expectedsequence`; nothing was written, no id or sequence given. */
export type AppendResult =
  | { kind: 'accepted'; id: string; sequence: number; duplicate: boolean }
  | { kind: 'conflict'; id: string; sequence: number }
  | { kind: 'sequence_conflict'; id?: undefined; sequence?: undefined; currentSequence: number }
  /** The subject's head was pruned while this append waited (subject-head-store.ts): nothing was written; retry. */
  | { kind: 'sequence_unknown'; id?: undefined; sequence?: undefined };

export interface LogStatus {
  tenantId: string | null;
  lastSequence: number;
  configVersion: number;
  outboxDepth: number;
  /** Queue messages staged but not yet accepted by the queue. */
  dispatchDepth: number;
  /** Ordered deliveries waiting in their lines, the in-flight ones included. */
  orderedDepth: number;
  flushFailures: number;
  nextFlushAt: number | null;
  /** Refused events kept in the log itself because Postgres could not take them even into `quarantined_events`. */
  quarantined: number;
}
