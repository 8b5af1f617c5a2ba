/** The replay step's query: a replay's deliveries, keyed by the tenant that owns them. */
import type { Db } from './client';

/** New deliveries of a replay (ids are derived from the replay, so a repeated step inserts nothing twice). */
export async function insertReplayDeliveries(
  db: Db,
  tenantId: string,
  replayId: string,
  deliveries: { id: string; subscriptionId: string; eventId: string; sequence: number; partitionKey: string; priority: string; eventReceivedAt: string }[],
): Promise<number> {
  const result = await db.query(
    `INSERT INTO deliveries (id, tenant_id, subscription_id, event_id, event_sequence, partition_key, replay_id, priority, event_received_at)
     SELECT x."id", $1, x."subscriptionId", x."eventId", x."sequence", x."partitionKey", $2, x."priority", x."eventReceivedAt"
       FROM jsonb_to_recordset($3::jsonb) AS x("id" text, "subscriptionId" text, "eventId" text, "sequence" bigint, "partitionKey" text, "priority" text,
            "eventReceivedAt" timestamptz)
     ON CONFLICT (id, event_received_at) DO NOTHING`,
    [tenantId, replayId, JSON.stringify(deliveries)],
  );
  return result.rowCount ?? 0;
}
