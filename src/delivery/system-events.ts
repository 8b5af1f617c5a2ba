/**
 * Events Switchyard emits into a tenant's own stream, subscribable like any other. Their types start
 * with `switchyard.`; only subscriptions that name that prefix receive them (see fan-out), and no
 * system event is emitted about the delivery of a system event, so failures cannot chain.
 */
import type { AppendItem } from '../ingest/log-types';
import { storableJson } from '../lib/storable';
import { sha256Hex } from '../lib/encoding';

export const SYSTEM_SOURCE_ID = 'switchyard';
export const SYSTEM_PREFIX = 'switchyard.';

export async function systemEvent(type: string, id: string, subject: string, data: Record<string, unknown>): Promise<AppendItem> {
  const identity = { specversion: '1.0', id, source: 'switchyard', type, subject, datacontenttype: 'application/json', data };
  const event = { ...identity, time: new Date().toISOString() };
  // the data quotes receivers' and scripts' error texts, which may hold what Postgres cannot store
  const json = storableJson(JSON.stringify(event));
  return {
    sourceId: SYSTEM_SOURCE_ID,
    ceId: id,
    // the hash leaves out the time, so emitting the same event again is a duplicate, not a conflict
    sha256: await sha256Hex(JSON.stringify(identity)),
    type,
    subject,
    time: event.time,
    partitionKey: null,
    correlationId: null,
    causationId: null,
    json,
  };
}
