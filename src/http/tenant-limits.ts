/**
 * What one tenant may create. Every subscription is loaded and run on each flushed batch (an event
 * fans out to each of them), every matching plugin runs on each event, and each replay re-delivers a
 * range to every matching subscription, so their number and the size of a `where` are bounded: one
 * tenant cannot make its log, or the queues every tenant shares, carry an unbounded load.
 * Counted inside the creating transaction; concurrent creations may pass a limit by their number.
 */
import type { Db } from '../db/client';
import { problem, ProblemError } from '../lib/problem';

export const TENANT_LIMITS = { subscriptions: 500, plugins: 100, sources: 500, running_replays: 5 } as const;
/** Largest `where` filter, as JSON text: conditions, not data (`$in` lists of some hundreds of values). */
export const MAX_FILTER_BYTES = 16 * 1024;

const COUNT: Record<keyof typeof TENANT_LIMITS, string> = {
  subscriptions: 'SELECT count(*)::int AS n FROM subscriptions WHERE tenant_id = $1',
  plugins: 'SELECT count(*)::int AS n FROM plugins WHERE tenant_id = $1',
  sources: 'SELECT count(*)::int AS n FROM sources WHERE tenant_id = $1',
  // a replay whose steps were lost stays `running`; after a day it no longer holds a place
  running_replays: "SELECT count(*)::int AS n FROM replays WHERE tenant_id = $1 AND status = 'running' AND created_at > now() - interval '1 day'",
};

/** Throws 409 `limit_reached` when the tenant already has as many `what` as it may. */
export async function assertBelowLimit(db: Db, tenantId: string, what: keyof typeof TENANT_LIMITS): Promise<void> {
  const limit = TENANT_LIMITS[what];
  const { rows } = await db.query<{ n: number }>(COUNT[what], [tenantId]);
  if ((rows[0]?.n ?? 0) >= limit) {
    const name = what.replace('_', ' ');
    const advice = what === 'running_replays' ? 'wait for one to complete' : 'delete one first';
    throw new ProblemError(problem(409, 'limit_reached', `a tenant may have at most ${limit} ${name}; ${advice}`));
  }
}

/**
 * Event-type schemas: ingest loads and compiles the newest version of every type whenever the
 * tenant's rules change, and `GET …/event-types/{type}` returns every version, so the versions a tenant
 * keeps (deleted types do not count) and their JSON are bounded.
 */
export const SCHEMA_LIMITS = { versions: 1000, bytes: 4 * 1024 * 1024 } as const;

/** Throws 409 `limit_reached` when one more schema of `bytes` would pass SCHEMA_LIMITS. */
export async function assertSchemaBudget(db: Db, tenantId: string, bytes: number): Promise<void> {
  const { rows } = await db.query<{ n: number; bytes: string }>(
    'SELECT count(*)::int AS n, COALESCE(sum(octet_length(schema::text)), 0)::int8 AS bytes FROM event_types WHERE tenant_id = $1 AND deleted_at IS NULL',
    [tenantId],
  );
  const kept = { n: rows[0]?.n ?? 0, bytes: Number(rows[0]?.bytes ?? 0) };
  if (kept.n >= SCHEMA_LIMITS.versions) {
    throw new ProblemError(
      problem(409, 'limit_reached', `a tenant may keep at most ${SCHEMA_LIMITS.versions} event-type schema versions; delete an event type first`),
    );
  }
  if (kept.bytes + bytes > SCHEMA_LIMITS.bytes) {
    throw new ProblemError(
      problem(
        409,
        'limit_reached',
        `a tenant's event-type schemas (every kept version) may take at most ${SCHEMA_LIMITS.bytes / 1024 / 1024} MiB of JSON; they take ${kept.bytes} bytes and this one ${bytes}; delete an event type first`,
      ),
    );
  }
}

/** Throws 422 `filter_too_large` for a `where` whose JSON passes MAX_FILTER_BYTES. */
export function assertFilterSize(where: unknown, pointer = '/where'): void {
  if (where === undefined || where === null) return;
  const size = new TextEncoder().encode(JSON.stringify(where)).length;
  if (size > MAX_FILTER_BYTES) {
    const detail = `a where filter may take at most ${MAX_FILTER_BYTES} bytes of JSON (this one takes ${size}); match on fewer values, or tag events and match the tag`;
    throw new ProblemError(problem(422, 'filter_too_large', detail, { errors: [{ pointer, detail }] }));
  }
}
