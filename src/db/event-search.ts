/**
 * `where` searches over stored events run under a statement timeout, so one tenant's expensive search
 * (a `$contains` over every payload of a large tenant) cannot hold a database connection for long.
 */
import { type Db, transaction } from './client';
import { type EventFilter, listEvents, type StoredEvent } from './events';

/** How long one search statement may run. */
export const SEARCH_TIMEOUT_MS = 5_000;
const QUERY_CANCELED = '57014';

export type SearchOutcome = { kind: 'page'; events: StoredEvent[] } | { kind: 'timeout'; ms: number };

export async function searchEvents(db: Db, tenantId: string, filter: EventFilter, timeoutMs = SEARCH_TIMEOUT_MS): Promise<SearchOutcome> {
  try {
    return await transaction(db, async () => {
      // SET cannot take a parameter; the value is an integer of ours
      await db.query(`SET LOCAL statement_timeout = ${Math.max(1, Math.trunc(timeoutMs))}`);
      return { kind: 'page' as const, events: await listEvents(db, tenantId, filter) };
    });
  } catch (error) {
    if ((error as { code?: unknown }).code === QUERY_CANCELED) return { kind: 'timeout', ms: timeoutMs };
    throw error;
  }
}
