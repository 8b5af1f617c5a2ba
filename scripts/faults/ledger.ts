/**
 * The fault suite's ledger: for every event id, what the client published, what Switchyard
 * acknowledged (2xx, with sequence and duplicate flag), what Postgres stored, and what the receiver
 * got. A scenario passes only if no acknowledged event is missing and every duplicate is explained.
 */
import { query } from '../lib/postgres.ts';
import { send, type SignedRequest } from '../lib/switchyard-api.ts';

/** A shard's sequences start at shard × this: SEQUENCE_STRIDE of src/tenancy/shard-routing.ts (which needs the Worker's types, so not imported here). */
const SEQUENCE_STRIDE = 10_000_000_000_000;

export interface LedgerEntry {
  id: string;
  published: number;
  /** Every 2xx answer for this id, in arrival order. */
  acks: { sequence: number; duplicate: boolean }[];
  /** Answers that were neither 2xx nor a network failure (4xx/5xx), by status. */
  refused: Record<number, number>;
  /** Sends that got no answer at all (connection refused/reset, timeout). */
  unanswered: number;
  stored?: { sequence: number; storedAt: number };
  delivered: number;
}

export type Ledger = Map<string, LedgerEntry>;

export function createLedger(): Ledger {
  return new Map();
}

function entry(ledger: Ledger, id: string): LedgerEntry {
  let e = ledger.get(id);
  if (!e) {
    e = { id, published: 0, acks: [], refused: {}, unanswered: 0, delivered: 0 };
    ledger.set(id, e);
  }
  return e;
}

interface ItemResult {
  status?: number;
  sequence?: number;
  duplicate?: boolean;
}

/** Records one answer to a single or batch request. Returns true when every event in it was answered 2xx. */
export function recordAnswer(ledger: Ledger, request: SignedRequest, status: number, json: unknown): boolean {
  const entries = request.ids.map((id) => entry(ledger, id));
  for (const e of entries) e.published++;
  if (status === 0) {
    for (const e of entries) e.unanswered++;
    return false;
  }
  if (status !== 202) {
    for (const e of entries) e.refused[status] = (e.refused[status] ?? 0) + 1;
    return false;
  }
  const items: ItemResult[] =
    request.ids.length === 1 && !(json as { results?: unknown }).results
      ? [{ status: 202, ...(json as ItemResult) }]
      : ((json as { results: ItemResult[] }).results ?? []);
  let all = true;
  entries.forEach((e, i) => {
    const item = items[i];
    if (item?.status === 202 && typeof item.sequence === 'number') e.acks.push({ sequence: item.sequence, duplicate: Boolean(item.duplicate) });
    else {
      all = false;
      e.refused[item?.status ?? 0] = (e.refused[item?.status ?? 0] ?? 0) + 1;
    }
  });
  return all;
}

/**
 * Sends until the request is answered with anything but a network failure, 5xx or 429 — as a
 * well-behaved producer would — or until `deadline`. Returns the last status.
 */
export async function publish(ledger: Ledger, base: () => string, request: SignedRequest, deadline: number, retryDelayMs = 200): Promise<number> {
  for (;;) {
    const answer = await send(base(), request, 10_000);
    const complete = recordAnswer(ledger, request, answer.status, answer.json);
    // a batch of a multi-shard tenant can be 202 with per-item 503s (a shard that failed or was moving): resent whole, the stored items come back duplicates
    const itemsRetryable =
      answer.status === 202 &&
      !complete &&
      ((answer.json as { results?: { status: number }[] }).results ?? []).some((r) => r.status >= 500 || r.status === 429);
    const retryable = answer.status === 0 || answer.status >= 500 || answer.status === 429 || itemsRetryable;
    if (!retryable || Date.now() > deadline) return answer.status;
    await new Promise((resolve) => setTimeout(resolve, retryDelayMs));
  }
}

export interface StoredRow {
  ce_id: string;
  type: string;
  sequence: number;
  stored_at: number;
}

export async function loadStored(databaseUrl: string, tenantId: string): Promise<StoredRow[]> {
  const rows = (await query(
    databaseUrl,
    'SELECT ce_id, type, sequence::int8 AS sequence, extract(epoch FROM stored_at) * 1000 AS stored_at FROM events WHERE tenant_id = $1 ORDER BY sequence',
    [tenantId],
  )) as { ce_id: string; type: string; sequence: string; stored_at: string }[];
  return rows.map((r) => ({ ce_id: r.ce_id, type: r.type, sequence: Number(r.sequence), stored_at: Number(r.stored_at) }));
}

/** Events Postgres refused and the TenantLog quarantined: producer id -> sequence. */
export async function loadQuarantined(databaseUrl: string, tenantId: string): Promise<Map<string, { sequence: number; sqlstate: string | null }>> {
  const rows = (await query(databaseUrl, 'SELECT ce_id, sequence::int8 AS sequence, sqlstate FROM quarantined_events WHERE tenant_id = $1 ORDER BY sequence', [
    tenantId,
  ])) as { ce_id: string; sequence: string; sqlstate: string | null }[];
  return new Map(rows.map((r) => [r.ce_id, { sequence: Number(r.sequence), sqlstate: r.sqlstate }]));
}

export interface StorageVerdict {
  published: number;
  acknowledged: number;
  /** Acknowledged, refused by Postgres, and held in the quarantine with the acknowledged sequence. */
  quarantined: number;
  duplicateAcks: number;
  unansweredAtLeastOnce: number;
  neverAcknowledged: number;
  stored: number;
  storedButNeverAcknowledged: number;
  problems: string[];
}

/**
 * Checks the ledger against what Postgres holds: every acknowledged id stored exactly once, with the
 * sequence its acknowledgements named (or, when `quarantined` lists it, held in the quarantine under
 * that sequence); duplicates only for ids acknowledged before; sequences without gaps (a quarantined
 * sequence fills its place); and (when `ordered`) rows stored in sequence order.
 */
export function verifyStorage(
  ledger: Ledger,
  rows: StoredRow[],
  options: { ordered?: boolean; quarantined?: ReadonlyMap<string, { sequence: number }> } = {},
): StorageVerdict {
  const problems: string[] = [];
  const byId = new Map<string, StoredRow[]>();
  for (const row of rows) byId.set(row.ce_id, [...(byId.get(row.ce_id) ?? []), row]);
  for (const [id, copies] of byId)
    if (copies.length > 1) problems.push(`${id} stored ${copies.length} times (sequences ${copies.map((c) => c.sequence).join(', ')})`);
  let acknowledged = 0;
  let duplicateAcks = 0;
  let unanswered = 0;
  let never = 0;
  let quarantined = 0;
  for (const e of ledger.values()) {
    if (e.unanswered) unanswered++;
    if (e.acks.length === 0) {
      never++;
      continue;
    }
    acknowledged++;
    const stored = byId.get(e.id)?.[0];
    const held = options.quarantined?.get(e.id);
    if (!stored && held && e.acks.every((a) => a.sequence === held.sequence)) {
      quarantined++;
      continue;
    }
    if (!stored) {
      problems.push(`${e.id} acknowledged (sequence ${e.acks[0]!.sequence}) but not in Postgres`);
      continue;
    }
    const sequences = new Set(e.acks.map((a) => a.sequence));
    if (sequences.size > 1 || !sequences.has(stored.sequence))
      problems.push(`${e.id} acknowledged as sequence ${[...sequences].join('/')} but stored as ${stored.sequence}`);
    e.acks.forEach((a, i) => {
      if (a.duplicate) duplicateAcks++;
      // a duplicate flag is explained by an earlier acceptance, or by a send whose answer was lost
      if (a.duplicate && i === 0 && e.unanswered === 0 && e.published === 1) problems.push(`${e.id} flagged duplicate on its only send`);
      if (!a.duplicate && i > 0) problems.push(`${e.id} accepted as new again after it was acknowledged`);
    });
  }
  const known = new Set(ledger.keys());
  // Switchyard's own events (switchyard.delivery.exhausted, ...) share the tenant's sequence
  const strangers = rows.filter((r) => !known.has(r.ce_id) && !r.type.startsWith('switchyard.'));
  if (strangers.length) problems.push(`${strangers.length} stored events were never published (e.g. ${strangers[0]!.ce_id})`);
  const storedButNeverAcknowledged = rows.filter((r) => (ledger.get(r.ce_id)?.acks.length ?? 1) === 0).length;
  // each shard numbers its own events shard × 10^13 + 1, 2, … (README "Sharded tenants"): dense per shard
  const shardOf = (sequence: number) => Math.floor(sequence / SEQUENCE_STRIDE);
  const sorted = [...rows.map((r) => r.sequence), ...[...(options.quarantined?.values() ?? [])].map((q) => q.sequence)].sort((a, b) => a - b);
  const perShard = Map.groupBy(sorted, shardOf);
  for (const [shard, sequences] of perShard) {
    sequences.forEach((s, i) => {
      const expected = shard * SEQUENCE_STRIDE + i + 1;
      if (s !== expected && problems.length < 50) problems.push(`sequence gap: expected ${expected}, found ${s}`);
    });
  }
  if (options.ordered) {
    for (let i = 1; i < rows.length; i++) {
      if (shardOf(rows[i]!.sequence) !== shardOf(rows[i - 1]!.sequence)) continue;
      if (rows[i]!.stored_at < rows[i - 1]!.stored_at) {
        problems.push(`sequence ${rows[i]!.sequence} reached Postgres before sequence ${rows[i - 1]!.sequence}`);
        break;
      }
    }
  }
  return {
    published: ledger.size,
    acknowledged,
    quarantined,
    duplicateAcks,
    unansweredAtLeastOnce: unanswered,
    neverAcknowledged: never,
    stored: rows.length,
    storedButNeverAcknowledged,
    problems: problems.slice(0, 50),
  };
}

export function describeVerdict(v: StorageVerdict): string {
  return `published ${v.published}, acknowledged ${v.acknowledged} (duplicate flags ${v.duplicateAcks}, ${v.unansweredAtLeastOnce} ids had a send without answer, ${v.neverAcknowledged} never acknowledged), stored ${v.stored} (${v.storedButNeverAcknowledged} stored without an acknowledgement)${v.quarantined ? `, quarantined ${v.quarantined}` : ''}`;
}
