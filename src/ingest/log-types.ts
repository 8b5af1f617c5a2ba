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
  /**
   * Multi-shard tenants only (sharding.md §2): the event's slot, and when its id was claimed at another
   * shard (its home), the time of that claim; absent `claimedAt`: the log checks and writes the claim itself.
   */
  slot?: number;
  idSlot?: number;
  claimedAt?: number;
}

export interface AppendRequest {
  tenantId: string;
  dedupWindowSeconds: number;
  /** The tenant config version the items were verified and validated under. */
  configVersion: number;
  items: AppendItem[];
  /** The shard this log is (0 when absent) and the tenant's shard count (1 when absent). */
  shard?: number;
  shards?: number;
  /**
   * The epoch of the tenant's newest shard-count change the items were routed under (absent: 0; an
   * older one than the log has seen is refused as `stale`), and while that change moves keys, the
   * count it moves from (sharding.md §4).
   */
  epoch?: number;
  movingFrom?: number | null;
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
  | { kind: 'sequence_unknown'; id?: undefined; sequence?: undefined }
  /**
   * Multi-shard tenants (sharding.md §2); nothing was written, retry: `claim_contended`, the id is
   * claimed for another key (ingest settles it through the claim path); `claim_expired`, the claim is
   * older than CLAIM_TTL_MS; `idempotency_pending`, another request's claim for the id is not settled
   * yet; `storage_unavailable`, the item's shard failed.
   */
  | { kind: 'claim_contended'; id?: undefined; sequence?: undefined }
  | { kind: 'claim_expired'; id?: undefined; sequence?: undefined }
  | { kind: 'idempotency_pending'; id?: undefined; sequence?: undefined }
  | { kind: 'storage_unavailable'; id?: undefined; sequence?: undefined }
  /**
   * A change of the shard count is moving the item's slot (sharding.md §4); nothing was written.
   * `moving`: retry the same shard shortly; `moved`: send it to shard `to`; `shard_moving`: ingest
   * gave up retrying (a per-item 503).
   */
  | { kind: 'moving'; id?: undefined; sequence?: undefined }
  | { kind: 'moved'; to: number; id?: undefined; sequence?: undefined }
  | { kind: 'shard_moving'; id?: undefined; sequence?: undefined };

/** One id claim asked of the id's home shard (sharding.md §2, durable/claim-store.ts). */
export interface ClaimRequest {
  sourceId: string;
  ceId: string;
  /** The event's slot. */
  slot: number;
  idSlot: number;
  /** Take over a claim only if it is still this one (an orphan the caller checked). */
  replaces?: { slot: number; claimedAt: number };
}

/** An id claim's answer at its home shard (sharding.md §2). */
export type ClaimResult = { kind: 'ok'; claimedAt: number } | { kind: 'other'; slot: number; claimedAt: number } | { kind: 'moving' };

export interface LogStatus {
  tenantId: string | null;
  /** Which shard of its tenant this log is (sequences start at shard·10^13). */
  shard: number;
  lastSequence: number;
  configVersion: number;
  outboxDepth: number;
  /** When the oldest of those events was accepted (its `received_at`, Unix ms); null when the outbox is empty. */
  oldestOutboxAt: number | null;
  /** Queue messages staged but not yet accepted by the queue. */
  dispatchDepth: number;
  /** Ordered deliveries waiting in their lines, the in-flight ones included. */
  orderedDepth: number;
  flushFailures: number;
  nextFlushAt: number | null;
  /** Refused events kept in the log itself because Postgres could not take them even into `quarantined_events`. */
  quarantined: number;
}
