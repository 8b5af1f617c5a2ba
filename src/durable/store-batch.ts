/**
 * Stores one outbox batch in Postgres so that one bad row never blocks a tenant. The batch goes in
 * one statement; when Postgres refuses it for a reason that is the data (see `isDataError`), the
 * lowest half is tried, then halved again, until the first refused row stands alone: the rows before
 * it are stored, it is moved to `quarantined_events` with its error, and the flush ends there (the
 * rows after it go with the next batch, at once). So one call costs at most about 2·log2(batch)
 * statements, and a batch of many bad rows is worked off one per flush instead of timing out the
 * connection and starting over. A connection or server fault is thrown as before, so the TenantLog
 * retries later (every step is idempotent).
 * An insert that wrote fewer rows than given is checked: rows already stored under the same id (a
 * re-flush after a crash) count as stored; a sequence held by another event is refused too.
 */
import type { Db } from '../db/client';
import { insertEvents, storedIds, type DeliveryRow } from '../db/events';
import { isDataError, quarantineEvent, sqlstateOf } from '../db/quarantine';
import type { OutboxReader, Slice } from './outbox-store';
import { errorMessage } from '../lib/errors';

export interface Refused {
  sequence: number;
  id: string;
  error: string;
  sqlstate: string | null;
  /** Where the refused event is kept now: Postgres's `quarantined_events`, or the TenantLog's own table. */
  heldBy: 'postgres' | 'tenant_log';
}

export interface StoreOutcome {
  /** Every row up to this sequence is stored or quarantined; the rest stays in the outbox. */
  through: number;
  refused: Refused[];
}

/** Stores `batch` (or its rows up to and including the first refused one) and their deliveries. */
export async function storeBatch(db: Db, tenantId: string, batch: Slice, deliveries: DeliveryRow[], outbox: OutboxReader): Promise<StoreOutcome> {
  const failed: Omit<Refused, 'heldBy' | 'id'>[] = [];
  let through = batch.first - 1;
  // a stack whose top is the lowest range, so what can be stored is stored in sequence order
  const pending: Slice[] = [batch];
  while (pending.length > 0) {
    const slice = pending.pop()!;
    const mine = slice === batch ? deliveries : deliveries.filter((d) => d.sequence >= slice.first && d.sequence <= slice.last);
    let written: number;
    try {
      written = (await insertEvents(db, tenantId, slice.events, mine)).events;
    } catch (error) {
      if (!isDataError(error)) throw error;
      if (slice.n === 1) {
        failed.push({ sequence: slice.first, error: errorMessage(error), sqlstate: sqlstateOf(error) });
        through = slice.first;
        break;
      }
      const middle = slice.first + Math.floor((slice.last - slice.first) / 2);
      for (const half of [outbox.slice(middle + 1, slice.last), outbox.slice(slice.first, middle)]) if (half.n > 0) pending.push(half);
      continue;
    }
    if (written < slice.n) failed.push(...(await takenSequences(db, tenantId, slice, written, outbox)));
    through = slice.last;
  }
  const refused: Refused[] = [];
  for (const f of failed) {
    const row = outbox.row(f.sequence);
    let held = false;
    try {
      held = await quarantineEvent(db, tenantId, { ...row, error: f.error, sqlstate: f.sqlstate });
    } catch (error) {
      if (!isDataError(error)) throw error;
    }
    refused.push({ ...f, id: row.id, heldBy: held ? 'postgres' : 'tenant_log' });
    console.error(
      JSON.stringify({
        msg: 'event quarantined: Postgres refused it',
        tenantId,
        sequence: f.sequence,
        id: row.id,
        ceId: row.ce_id,
        sqlstate: f.sqlstate,
        error: f.error.slice(0, 500),
        heldBy: held ? 'postgres' : 'tenant_log',
      }),
    );
  }
  return { through, refused };
}

/** The rows of `slice` an insert skipped because their sequence holds another event; throws if any is missing outright. */
async function takenSequences(db: Db, tenantId: string, slice: Slice, written: number, outbox: OutboxReader): Promise<Omit<Refused, 'heldBy' | 'id'>[]> {
  const expected = outbox.ids(slice.first, slice.last);
  const held = await storedIds(db, tenantId, [...expected.keys()]);
  const taken: Omit<Refused, 'heldBy' | 'id'>[] = [];
  for (const [sequence, id] of expected) {
    const other = held.get(sequence);
    if (other === undefined) throw new Error(`the flush wrote ${written} of ${slice.n} events and sequence ${sequence} is not in Postgres`);
    if (other !== id) taken.push({ sequence, error: `sequence ${sequence} is already stored for another event (${other})`, sqlstate: '23505' });
  }
  return taken;
}
