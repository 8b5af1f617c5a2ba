/**
 * Sharded tenant logs (docs/design/sharding.md §1): a tenant's events are spread over `shards`
 * TenantLogs (1–64). This module owns their names, so no other file asks `TENANT_LOG` for a tenant's
 * log by name: shard 0 is the tenant id itself (the object every tenant had before sharding), shard
 * n > 0 is `${tenantId}:${n}` (tenant ids never contain `:`).
 *
 * Rules a reader would not guess:
 * - An event's route key is its partition key, else its subject, else its (source, id). The key picks
 *   one of 1024 fixed slots (FNV-1a 32 then MurmurHash3's fmix32, top 10 bits), and the slot its
 *   shard (jump consistent hash). Both are pinned by test/node/shard-routing.test.ts: changing either
 *   moves every multi-shard tenant's keys.
 * - Shard s numbers its events s·10^13 + n, so a sequence names its shard and stays unique per tenant.
 */

export const SEQUENCE_STRIDE = 10_000_000_000_000;
export const SLOTS = 1024;
export const MAX_SHARDS = 64;

type TenantLogStub = ReturnType<Env['TENANT_LOG']['get']>;

/** `idFromName` hashes the name on every call: ids by DO name, kept in the isolate. Bounded; a full map starts over. */
const logIds = new Map<string, DurableObjectId>();

export function shardName(tenantId: string, shard: number): string {
  if (shard === 0) return tenantId;
  // a name from anything but a shard number would open a new, empty log that answers as if the tenant had nothing
  if (!Number.isInteger(shard) || shard < 0 || shard >= MAX_SHARDS) throw new TypeError(`not a shard number: ${String(shard)}`);
  return `${tenantId}:${shard}`;
}

/** The TenantLog of one shard of a tenant. */
export function shardLog(env: Pick<Env, 'TENANT_LOG'>, tenantId: string, shard: number): TenantLogStub {
  const name = shardName(tenantId, shard);
  let id = logIds.get(name);
  if (!id) {
    if (logIds.size >= 10_000) logIds.clear();
    logIds.set(name, (id = env.TENANT_LOG.idFromName(name)));
  }
  return env.TENANT_LOG.get(id);
}

/** Shards 0..count-1, for the calls that go to every shard (delete, status, quarantine). */
export function allShards(count: number): number[] {
  return Array.from({ length: Math.max(1, count) }, (_, i) => i);
}

/**
 * The newest `received_at` (Unix ms) through which every one of a tenant's `span` shards has stored all
 * it acknowledged (each TenantLog's `horizon()`): what a reader in `(received_at, sequence)` order may
 * read up to without a later row appearing behind it (the events API, replays).
 */
export async function storedHorizon(env: Pick<Env, 'TENANT_LOG'>, tenantId: string, span: number): Promise<number> {
  return Math.min(...(await Promise.all(allShards(span).map((shard) => shardLog(env, tenantId, shard).horizon()))));
}

/** The key an event is routed by: partition key, else subject, else its (source, id), which is also its id claim's key. */
export function routeKey(item: { partitionKey: string | null; subject: string | null; sourceId: string; ceId: string }): string {
  return item.partitionKey ?? item.subject ?? idKey(item.sourceId, item.ceId);
}

/** The key of an event id's claim (sharding.md §2). */
export function idKey(sourceId: string, ceId: string): string {
  return `${sourceId}\n${ceId}`;
}

const encoder = new TextEncoder();

/** 0..1023: the top 10 bits of fmix32(fnv1a32(utf8(key))). */
export function slotOf(key: string): number {
  let h = 2166136261;
  for (const byte of encoder.encode(key)) {
    h ^= byte;
    h = Math.imul(h, 16777619);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 22;
}

const owners = new Map<number, Uint8Array>();

/** The shard that owns `slot` among `shards`: Lamping & Veach's jump consistent hash, one table per count. */
export function ownerOf(slot: number, shards: number): number {
  if (shards <= 1) return 0;
  let table = owners.get(shards);
  if (!table) {
    table = new Uint8Array(SLOTS);
    for (let s = 0; s < SLOTS; s++) table[s] = jumpHash(BigInt(s), shards);
    owners.set(shards, table);
  }
  return table[slot]!;
}

function jumpHash(key: bigint, buckets: number): number {
  let b = -1;
  let j = 0;
  while (j < buckets) {
    b = j;
    key = (key * 2862933555777941757n + 1n) & 0xffffffffffffffffn;
    j = Math.floor((b + 1) * (2 ** 31 / Number((key >> 33n) + 1n)));
  }
  return b;
}

export function shardOfSequence(sequence: number): number {
  return Math.floor(sequence / SEQUENCE_STRIDE);
}

/** The shard an event goes to among `shards`. */
export function shardOfEvent(item: { partitionKey: string | null; subject: string | null; sourceId: string; ceId: string }, shards: number): number {
  return shards <= 1 ? 0 : ownerOf(slotOf(routeKey(item)), shards);
}
