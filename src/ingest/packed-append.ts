/**
 * The Worker → TenantLog append in the two forms that cost least to send:
 * - **One item** (every single-event request): `appendOne`, the request as positional primitives and the
 *   answer as JSON text. workerd's RPC costs 10–25 µs more per call (on a 2 GHz core) for each argument
 *   or result that is an object or array, whatever its size, and next to nothing per primitive: the same
 *   item sent as a packed append costs 5–10 % more per call (`npm run bench -- --costs`, steps `call-one`
 *   and `call-one-packed`: 195–209 against 216–218 µs).
 * - **Several items**: `appendPacked`, one array per field of `AppendItem` instead of one object per event,
 *   and the answers likewise. An RPC argument is a structured clone, whose cost is per object and per
 *   property name far more than per array element: for a 1,000-event batch the packed form costs about
 *   40 % less (step `call`: 1.4–1.8 against 2.5–2.8 µs per event).
 *
 * The log takes both next to `append`. During a deploy a Worker of the new version can reach a log still
 * running an older one, without `appendOne` or `appendPacked`: `appendPackedTo` then sends the same
 * request the older way (`appendPacked`, then `append`), and the answer is the same either way.
 */
import type { AppendItem, AppendRequest, AppendResponse, AppendResult } from './log-types';

/** An append's items as columns, in input order; `slot`, `idSlot` and `claimedAt` only when some item has them. */
export interface PackedItems {
  sourceId: string[];
  ceId: string[];
  sha256: string[];
  type: string[];
  subject: (string | null)[];
  time: (string | null)[];
  partitionKey: (string | null)[];
  correlationId: (string | null)[];
  causationId: (string | null)[];
  json: string[];
  schemaVersion: (number | null)[];
  expectedSequence: (number | null)[];
  slot?: (number | null)[];
  idSlot?: (number | null)[];
  claimedAt?: (number | null)[];
}

export type PackedAppendRequest = Omit<AppendRequest, 'items'> & { items: PackedItems };

/**
 * The results of an append, in input order: an accepted item's id, sequence and `duplicate` at its
 * index; every other result whole in `other`, by index (its slots in the columns are placeholders).
 */
export interface PackedResults {
  id: string[];
  sequence: number[];
  duplicate: boolean[];
  other: { at: number; result: AppendResult }[];
}

export type PackedAppendResponse = { kind: 'appended'; results: PackedResults } | Exclude<AppendResponse, { kind: 'appended' }>;

/** The log's side of the append forms (TenantLog implements them). */
export interface PackedAppender {
  appendOne(...values: OneAppendValues): Promise<string>;
  appendPacked(request: PackedAppendRequest): Promise<PackedAppendResponse>;
  append(request: AppendRequest): Promise<AppendResponse>;
}

/** A one-item append as `appendOne` takes it, null for an absent field: the request's fields, then the item's. */
export type OneAppendValues = [
  tenantId: string,
  dedupWindowSeconds: number,
  configVersion: number,
  shard: number | null,
  shards: number | null,
  epoch: number | null,
  movingFrom: number | null,
  sourceId: string,
  ceId: string,
  sha256: string,
  type: string,
  subject: string | null,
  time: string | null,
  partitionKey: string | null,
  correlationId: string | null,
  causationId: string | null,
  json: string,
  schemaVersion: number | null,
  expectedSequence: number | null,
  slot: number | null,
  idSlot: number | null,
  claimedAt: number | null,
];

export function packOne(request: AppendRequest): OneAppendValues {
  const i = request.items[0]!;
  return [
    request.tenantId,
    request.dedupWindowSeconds,
    request.configVersion,
    request.shard ?? null,
    request.shards ?? null,
    request.epoch ?? null,
    request.movingFrom ?? null,
    i.sourceId,
    i.ceId,
    i.sha256,
    i.type,
    i.subject,
    i.time,
    i.partitionKey,
    i.correlationId,
    i.causationId,
    i.json,
    i.schemaVersion ?? null,
    i.expectedSequence ?? null,
    i.slot ?? null,
    i.idSlot ?? null,
    i.claimedAt ?? null,
  ];
}

/** The request `packOne` made; the optional request and shard fields that were absent (null) are left out, as `append` expects. */
export function unpackOne(values: OneAppendValues): AppendRequest {
  const [
    tenantId,
    dedupWindowSeconds,
    configVersion,
    shard,
    shards,
    epoch,
    movingFrom,
    sourceId,
    ceId,
    sha256,
    type,
    subject,
    time,
    partitionKey,
    correlationId,
    causationId,
    json,
    schemaVersion,
    expectedSequence,
    slot,
    idSlot,
    claimedAt,
  ] = values;
  const item: AppendItem = { sourceId, ceId, sha256, type, subject, time, partitionKey, correlationId, causationId, json, schemaVersion, expectedSequence };
  if (slot !== null) item.slot = slot;
  if (idSlot !== null) item.idSlot = idSlot;
  if (claimedAt !== null) item.claimedAt = claimedAt;
  const request: AppendRequest = { tenantId, dedupWindowSeconds, configVersion, items: [item] };
  if (shard !== null) request.shard = shard;
  if (shards !== null) request.shards = shards;
  if (epoch !== null) request.epoch = epoch;
  if (movingFrom !== null) request.movingFrom = movingFrom;
  return request;
}

export function packItems(items: readonly AppendItem[]): PackedItems {
  // built by map or push, never `new Array(n)`: V8 clones an array with holes element by element, as a sparse one
  const column = <T>(of: (item: AppendItem) => T): T[] => items.map(of);
  const packed: PackedItems = {
    sourceId: column((i) => i.sourceId),
    ceId: column((i) => i.ceId),
    sha256: column((i) => i.sha256),
    type: column((i) => i.type),
    subject: column((i) => i.subject),
    time: column((i) => i.time),
    partitionKey: column((i) => i.partitionKey),
    correlationId: column((i) => i.correlationId),
    causationId: column((i) => i.causationId),
    json: column((i) => i.json),
    schemaVersion: column((i) => i.schemaVersion ?? null),
    expectedSequence: column((i) => i.expectedSequence ?? null),
  };
  if (items.some((item) => item.slot !== undefined || item.idSlot !== undefined || item.claimedAt !== undefined)) {
    packed.slot = column((i) => i.slot ?? null);
    packed.idSlot = column((i) => i.idSlot ?? null);
    packed.claimedAt = column((i) => i.claimedAt ?? null);
  }
  return packed;
}

/** The items of a packed append, as `append` takes them: `slot`, `idSlot` and `claimedAt` present only where they were sent. */
export function unpackItems(packed: PackedItems): AppendItem[] {
  const items: AppendItem[] = [];
  for (let i = 0; i < packed.json.length; i++) {
    const item: AppendItem = {
      sourceId: packed.sourceId[i]!,
      ceId: packed.ceId[i]!,
      sha256: packed.sha256[i]!,
      type: packed.type[i]!,
      subject: packed.subject[i] ?? null,
      time: packed.time[i] ?? null,
      partitionKey: packed.partitionKey[i] ?? null,
      correlationId: packed.correlationId[i] ?? null,
      causationId: packed.causationId[i] ?? null,
      json: packed.json[i]!,
      schemaVersion: packed.schemaVersion[i] ?? null,
      expectedSequence: packed.expectedSequence[i] ?? null,
    };
    const slot = packed.slot?.[i];
    const idSlot = packed.idSlot?.[i];
    const claimedAt = packed.claimedAt?.[i];
    if (slot != null) item.slot = slot;
    if (idSlot != null) item.idSlot = idSlot;
    if (claimedAt != null) item.claimedAt = claimedAt;
    items.push(item);
  }
  return items;
}

export function packResults(results: readonly AppendResult[]): PackedResults {
  const packed: PackedResults = { id: [], sequence: [], duplicate: [], other: [] };
  results.forEach((r, at) => {
    const accepted = r.kind === 'accepted';
    packed.id.push(accepted ? r.id : '');
    packed.sequence.push(accepted ? r.sequence : 0);
    packed.duplicate.push(accepted && r.duplicate);
    if (!accepted) packed.other.push({ at, result: r });
  });
  return packed;
}

export function unpackResults(packed: PackedResults): AppendResult[] {
  const other = new Map(packed.other.map((o) => [o.at, o.result]));
  return packed.id.map((id, i): AppendResult => other.get(i) ?? { kind: 'accepted', id, sequence: packed.sequence[i]!, duplicate: packed.duplicate[i]! });
}

export function packResponse(response: AppendResponse): PackedAppendResponse {
  return response.kind === 'appended' ? { kind: 'appended', results: packResults(response.results) } : response;
}

export function unpackResponse(response: PackedAppendResponse): AppendResponse {
  return response.kind === 'appended' ? { kind: 'appended', results: unpackResults(response.results) } : response;
}

/** A log of an older version lacks `method`: the RPC call failed with this (workerd's wording; only the message is sure to survive the hop). */
function notImplemented(error: unknown, method: 'appendOne' | 'appendPacked'): boolean {
  const message = error instanceof Error ? error.message : String(error);
  return message.includes(`does not implement the method "${method}"`) || message.includes(`${method} is not a function`);
}

/**
 * Appends one item through `log.appendOne` and several through `log.appendPacked`, each falling back to
 * the older form when the log runs a version without it (a deploy in progress); the answer is the same
 * whichever form carried it.
 */
export async function appendPackedTo(log: PackedAppender, request: AppendRequest): Promise<AppendResponse> {
  if (request.items.length === 1) {
    try {
      return JSON.parse(await log.appendOne(...packOne(request))) as AppendResponse;
    } catch (error) {
      if (!notImplemented(error, 'appendOne')) throw error;
    }
  }
  let response: PackedAppendResponse;
  try {
    response = await log.appendPacked({ ...request, items: packItems(request.items) });
  } catch (error) {
    if (!notImplemented(error, 'appendPacked')) throw error;
    return log.append(request);
  }
  return unpackResponse(response);
}
