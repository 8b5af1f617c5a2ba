/**
 * Causation and correlation around one stored event. An event's parent is the event of the same
 * tenant whose producer id (`ce_id`) equals its `causationid` (several, when sources reuse an id);
 * its children are the events whose `causationid` is its `ce_id`. Both walks are recursive CTEs that
 * stop at CHAIN_MAX_DEPTH levels, never revisit an event on the same path (a causation loop ends), and
 * are read lazily under a LIMIT, so a fan-out of a million children reads a few hundred rows.
 */
import type { Db } from './client';
import { iso } from './sql';

export const CHAIN_MAX_DEPTH = 32;
export const CHAIN_MAX_SIZE = 500;
// paths through a diamond repeat events; read this many rows at most before taking distinct ones
const RAW_ROWS = CHAIN_MAX_SIZE * 4;

export interface ChainLink {
  id: string;
  ce_id: string;
  sequence: number;
  type: string;
  source: string;
  subject: string | null;
  time: string | null;
  received_at: string;
  causationid: string | null;
  correlationid: string | null;
  sha256: string;
  depth: number;
}

export interface ChainPart {
  data: ChainLink[];
  truncated: boolean;
}

export interface EventChain {
  event: ChainLink;
  ancestors: ChainPart;
  descendants: ChainPart;
  correlation: ChainPart & { correlation_id: string | null };
}

const LINK = (t: string) =>
  `${t}.id, ${t}.ce_id, ${t}.sequence::int8 AS sequence, ${t}.type, ${t}.ce_source AS source, ${t}.subject, ` +
  `${iso(`${t}.time`)}, ${iso(`${t}.received_at`)}, ${t}.causation_id AS causationid, ${t}.correlation_id AS correlationid, ${t}.sha256`;

type LinkRow = Omit<ChainLink, 'sequence' | 'depth'> & { sequence: string; depth?: number };
const toLink = (row: LinkRow): ChainLink => ({ ...row, sequence: Number(row.sequence), depth: Number(row.depth ?? 0) });

// $1 tenant, $2 start sequence, $3 depth bound, $4 raw row cap; `step` joins the next event `n` to `w`
const walk = (step: string) => `
  WITH RECURSIVE w AS (
    SELECT e.sequence, e.ce_id, e.causation_id, 0 AS depth, ARRAY[e.sequence] AS path
      FROM events e WHERE e.tenant_id = $1 AND e.sequence = $2
    UNION ALL
    SELECT n.sequence, n.ce_id, n.causation_id, w.depth + 1, w.path || n.sequence
      FROM w JOIN events n ON n.tenant_id = $1 AND ${step}
     WHERE w.depth <= $3::int AND NOT n.sequence = ANY(w.path)
  ), found AS (SELECT sequence, depth FROM w WHERE depth > 0 LIMIT $4)
  SELECT DISTINCT ON (f.sequence) ${LINK('e')}, f.depth
    FROM found f JOIN events e ON e.tenant_id = $1 AND e.sequence = f.sequence
   ORDER BY f.sequence, f.depth`;

const ANCESTORS = walk('n.ce_id = w.causation_id');
const DESCENDANTS = walk('n.causation_id = w.ce_id');

async function relatives(db: Db, sql: string, tenantId: string, sequence: number, maxDepth: number, maxSize: number): Promise<ChainPart> {
  const rawCap = Math.max(RAW_ROWS, maxSize * 4);
  const result = await db.query<LinkRow>(sql, [tenantId, sequence, maxDepth, rawCap + 1]);
  const raw = result.rows.length;
  const links = result.rows.map(toLink).sort((a, b) => a.depth - b.depth || a.sequence - b.sequence);
  const within = links.filter((l) => l.depth <= maxDepth);
  return { data: within.slice(0, maxSize), truncated: raw > rawCap || within.length < links.length || within.length > maxSize };
}

/** The chain of the event `id`, or null when the tenant has no such event. */
export async function eventChain(db: Db, tenantId: string, id: string, maxDepth = CHAIN_MAX_DEPTH, maxSize = CHAIN_MAX_SIZE): Promise<EventChain | null> {
  const found = await db.query<LinkRow>(`SELECT ${LINK('events')} FROM events WHERE tenant_id = $1 AND id = $2`, [tenantId, id]);
  const row = found.rows[0];
  if (!row) return null;
  const event = toLink(row);
  const [ancestors, descendants] = [
    await relatives(db, ANCESTORS, tenantId, event.sequence, maxDepth, maxSize),
    await relatives(db, DESCENDANTS, tenantId, event.sequence, maxDepth, maxSize),
  ];
  let correlation: EventChain['correlation'] = { correlation_id: event.correlationid, data: [], truncated: false };
  if (event.correlationid !== null) {
    const group = await db.query<LinkRow>(`SELECT ${LINK('events')} FROM events WHERE tenant_id = $1 AND correlation_id = $2 ORDER BY sequence LIMIT $3`, [
      tenantId,
      event.correlationid,
      maxSize + 1,
    ]);
    const links = group.rows.map(toLink);
    correlation = { correlation_id: event.correlationid, data: links.slice(0, maxSize), truncated: links.length > maxSize };
  }
  return { event, ancestors, descendants, correlation };
}
