/**
 * Signing-secret rotation for sources (inbound) and subscriptions (outbound). A rotation adds the new
 * secret and caps every still-valid older one at `now + grace`; an older secret that was already due
 * to expire sooner keeps its earlier expiry. Secrets are AES-GCM ciphertext (lib/secret-box.ts).
 */
import type { Db } from './client';

export type SecretTable = 'source_secrets' | 'subscription_secrets';

const OWNER: Record<SecretTable, { column: string; table: string }> = {
  source_secrets: { column: 'source_id', table: 'sources' },
  subscription_secrets: { column: 'subscription_id', table: 'subscriptions' },
};

/** The newest valid secret of an owner the tenant has; null when the owner does not exist or has none. */
export async function newestSecret(db: Db, table: SecretTable, tenantId: string, ownerId: string): Promise<{ exists: boolean; ciphertext: string | null }> {
  const { column, table: owners } = OWNER[table];
  const result = await db.query<{ ciphertext: string | null }>(
    `SELECT (SELECT k.ciphertext FROM ${table} k WHERE k.${column} = o.id AND (k.expires_at IS NULL OR k.expires_at > now())
              ORDER BY k.created_at DESC LIMIT 1) AS ciphertext
       FROM ${owners} o WHERE o.tenant_id = $1 AND o.id = $2`,
    [tenantId, ownerId],
  );
  const row = result.rows[0];
  return { exists: row !== undefined, ciphertext: row?.ciphertext ?? null };
}

/**
 * Adds `secret` and starts the grace period of the older ones; returns when the last older secret
 * stops being valid (null when there was none), or null for the whole result when the owner is not
 * the tenant's.
 */
export async function rotateSecret(
  db: Db,
  table: SecretTable,
  tenantId: string,
  ownerId: string,
  secret: { id: string; ciphertext: string },
  graceSeconds: number,
): Promise<{ previous_expires_at: string | null } | null> {
  const { column, table: owners } = OWNER[table];
  const result = await db.query<{ owned: boolean; previous_expires_at: string | null }>(
    `WITH owner AS (SELECT id FROM ${owners} WHERE tenant_id = $1 AND id = $2),
     old AS (
       UPDATE ${table} k SET expires_at = LEAST(COALESCE(k.expires_at, 'infinity'), now() + make_interval(secs => $5))
        WHERE k.${column} IN (SELECT id FROM owner) AND (k.expires_at IS NULL OR k.expires_at > now())
        RETURNING k.expires_at
     ), added AS (
       INSERT INTO ${table} (id, tenant_id, ${column}, ciphertext, created_at)
       SELECT $3, $1, id, $4, clock_timestamp() FROM owner
       RETURNING id
     )
     SELECT EXISTS (SELECT 1 FROM added) AS owned,
            to_char((SELECT max(expires_at) FROM old) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS previous_expires_at`,
    [tenantId, ownerId, secret.id, secret.ciphertext, graceSeconds],
  );
  const row = result.rows[0];
  return row?.owned ? { previous_expires_at: row.previous_expires_at } : null;
}
