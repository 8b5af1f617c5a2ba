/** Sync mode at the edge (src/delivery/sync-actions.ts): the sync actions of a single accepted event, for its 202. */
import type { Context } from 'hono';
import { withDb } from '../../db/client';
import { runSyncActions, type SyncAction } from '../../delivery/sync-actions';
import type { IngestOutcome } from '../../ingest/pipeline';
import { requestSandboxes } from '../../sandbox';
import type { AppEnv } from '../context';

/**
 * The outcomes of the event's sync actions; none for a duplicate, a dropped event or a tenant without
 * sync subscriptions. A failure here is logged and reported as no outcomes: the event is accepted
 * whatever happens, and what the sync path could not do the normal path delivers.
 */
export async function syncActionsFor(
  c: Pick<Context<AppEnv>, 'env' | 'executionCtx'>,
  outcome: Extract<IngestOutcome, { kind: 'single' }>,
  receivedAt: number,
): Promise<SyncAction[]> {
  const { result, stored } = outcome;
  if (result.status !== 202 || !('duplicate' in result) || result.duplicate || !stored) return [];
  const waitUntil = (p: Promise<unknown>) => c.executionCtx.waitUntil(p);
  try {
    return await runSyncActions(
      { tenantId: stored.tenantId, configVersion: stored.configVersion, accepted: { id: result.id, sequence: result.sequence }, item: stored.item, receivedAt },
      { env: c.env, withDb: (work) => withDb(c.env, work, waitUntil), waitUntil, sandbox: requestSandboxes(c.env, c.executionCtx)?.(stored.tenantId) },
    );
  } catch (error) {
    console.error(
      JSON.stringify({ msg: 'sync actions failed; the normal path delivers them', tenantId: stored.tenantId, eventId: result.id, error: String(error) }),
    );
    return [];
  }
}
