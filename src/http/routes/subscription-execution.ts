/**
 * A subscription's execution settings (README "Sync mode", "Delayed delivery", "Lifecycle events"):
 * `mode`, `sync_timeout_ms`, `delay_seconds`, `emit_succeeded`. Optional in create and PATCH alike;
 * an omitted one keeps its value (on create: the column default).
 */
import { z } from '@hono/zod-openapi';
import { SUBSCRIPTION_MODES, type SubscriptionFields, type SubscriptionRow } from '../../db/subscriptions';
import { MAX_DELAY_SECONDS } from '../../delivery/schedule';
import { MAX_SYNC_TIMEOUT_MS } from '../../delivery/sync-actions';
import { problem, ProblemError } from '../../lib/problem';

export const ExecutionFields = {
  mode: z.enum(SUBSCRIPTION_MODES).optional().openapi({
    description: 'async (default): delivered through the queue; sync: attempted inside the ingest request, its outcome in the 202 (single events only)',
  }),
  sync_timeout_ms: z
    .int()
    .min(1)
    .max(MAX_SYNC_TIMEOUT_MS)
    .optional()
    .openapi({ description: 'sync mode: how long the ingest request waits for the action (default 2000); slower is handed to the retries' }),
  delay_seconds: z
    .int()
    .min(0)
    .max(MAX_DELAY_SECONDS)
    .optional()
    .openapi({ description: 'first attempt no earlier than this long after the event was received (and its deliverat); default 0, at most 30 days' }),
  emit_succeeded: z.boolean().optional().openapi({ description: 'a successful attempt emits switchyard.delivery.succeeded (default false)' }),
};

type ExecutionBody = { [K in keyof typeof ExecutionFields]?: z.infer<(typeof ExecutionFields)[K]> };
type Execution = Pick<SubscriptionFields, 'mode' | 'syncTimeoutMs' | 'delaySeconds' | 'emitSucceeded' | 'ordering'>;

/** The fields a request names, as the database layer takes them. */
export function executionFields(body: ExecutionBody): Partial<Execution> {
  return {
    ...(body.mode !== undefined ? { mode: body.mode } : {}),
    ...(body.sync_timeout_ms !== undefined ? { syncTimeoutMs: body.sync_timeout_ms } : {}),
    ...(body.delay_seconds !== undefined ? { delaySeconds: body.delay_seconds } : {}),
    ...(body.emit_succeeded !== undefined ? { emitSucceeded: body.emit_succeeded } : {}),
  };
}

/** A stored subscription's settings, for checking a PATCH against what it leaves unchanged. */
export function executionOf(row: SubscriptionRow): Execution {
  return { mode: row.mode, syncTimeoutMs: row.sync_timeout_ms, delaySeconds: row.delay_seconds, emitSucceeded: row.emit_succeeded, ordering: row.ordering };
}

/**
 * Sync mode attempts an event the moment it is accepted, so it cannot keep a partition's order (an
 * earlier event may still be waiting) nor wait out a delay: both combinations are refused.
 */
export function assertExecution(f: Partial<Execution>): void {
  if (f.mode !== 'sync') return;
  const clash = f.ordering === 'partition' ? 'ordering: "partition"' : (f.delaySeconds ?? 0) > 0 ? 'a delay_seconds above 0' : null;
  if (!clash) return;
  const detail = `mode "sync" attempts each event as it is accepted; it cannot be combined with ${clash}`;
  throw new ProblemError(problem(422, 'sync_mode_conflict', detail, { errors: [{ pointer: '/mode', detail }] }));
}
