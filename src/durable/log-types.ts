/** The TenantLog's RPC shapes, shared by the DO and its callers. */

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
}

export interface AppendRequest {
  tenantId: string;
  dedupWindowSeconds: number;
  items: AppendItem[];
}

export type AppendResult =
  | { kind: 'accepted'; id: string; sequence: number; duplicate: boolean }
  | { kind: 'conflict'; id: string; sequence: number };

export interface LogStatus {
  tenantId: string | null;
  lastSequence: number;
  outboxDepth: number;
  flushFailures: number;
  nextFlushAt: number | null;
}
