/** The TenantLog's own small state, one row per key; read once when the object starts, written as it changes. */

export const META_SCHEMA = 'CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);';

export interface LogMeta {
  tenantId: string | null;
  lastSequence: number;
  configVersion: number;
  /** The tenant was deleted: appends are refused and nothing more is flushed. */
  deleted: boolean;
  /** Which shard of its tenant this log is (sharding.md §1); 0 until an append says otherwise. */
  shard: number;
  /** The shard count a log was told before live changes existed (slice 1); no longer read. */
  shards: number | null;
  /** The newest `received_at` (Unix ms) the log stamped or promised (`horizon`): later appends are stamped after it. */
  lastReceivedAt: number;
  /** The newest epoch of a shard-count change this log has heard of (sharding.md §4): appends routed under an older one are stale. */
  epoch: number;
}

type MetaKey = 'tenant_id' | 'last_sequence' | 'config_version' | 'deleted' | 'shard' | 'shards' | 'last_received_at' | 'epoch';

export function readMeta(sql: SqlStorage): LogMeta {
  const meta: LogMeta = { tenantId: null, lastSequence: 0, configVersion: 0, deleted: false, shard: 0, shards: null, lastReceivedAt: 0, epoch: 0 };
  for (const row of sql.exec<{ key: string; value: string }>('SELECT key, value FROM meta')) {
    if (row.key === 'last_sequence') meta.lastSequence = Number(row.value);
    if (row.key === 'tenant_id') meta.tenantId = row.value;
    if (row.key === 'config_version') meta.configVersion = Number(row.value);
    if (row.key === 'deleted') meta.deleted = true;
    if (row.key === 'shard') meta.shard = Number(row.value);
    if (row.key === 'shards') meta.shards = Number(row.value);
    if (row.key === 'last_received_at') meta.lastReceivedAt = Number(row.value);
    if (row.key === 'epoch') meta.epoch = Number(row.value);
  }
  return meta;
}

export function writeMeta(sql: SqlStorage, key: MetaKey, value: string | number): void {
  sql.exec('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)', key, String(value));
}

/** What every append group that wrote events records: its last sequence and the `received_at` it stamped, in one statement. */
export function writeAppendMeta(sql: SqlStorage, lastSequence: number, lastReceivedAt: number): void {
  sql.exec("INSERT OR REPLACE INTO meta (key, value) VALUES ('last_sequence', ?), ('last_received_at', ?)", String(lastSequence), String(lastReceivedAt));
}
