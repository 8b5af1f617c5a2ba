/** Small SQL helpers shared by the query modules. */

/** A timestamptz column rendered as RFC 3339 UTC with milliseconds. */
export const iso = (column: string, as = column.split('.').pop()!) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS ${as}`;

/** A timestamptz column as epoch milliseconds, a JSON number (float8, exact for ms): what queue messages carry (`event_received_at`). */
export const epochMs = (column: string, as = column.split('.').pop()!) => `round(extract(epoch FROM ${column}) * 1000)::float8 AS ${as}`;

/** Builds a `WHERE` scoped to a tenant: `add('status = ?', value)` appends a numbered parameter. */
export function tenantWhere(tenantId: string) {
  const clauses = ['tenant_id = $1'];
  const params: unknown[] = [tenantId];
  return {
    params,
    add(clause: string, value: unknown) {
      params.push(value);
      clauses.push(clause.replace('?', `$${params.length}`));
    },
    /** Appends `value` as the last parameter and returns its placeholder (for LIMIT). */
    last(value: unknown) {
      params.push(value);
      return `$${params.length}`;
    },
    get sql() {
      return clauses.join(' AND ');
    },
  };
}
