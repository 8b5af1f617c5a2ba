/**
 * Source → tenant resolution for ingest, cached in isolate memory so the hot path does not touch
 * Postgres. Entries live `SOURCE_TTL_MS`; unknown ids are remembered briefly so a flood of bad ids
 * cannot turn into a flood of queries.
 */
import { withDb } from '../db/client';
import { findSourceForIngest } from '../db/sources';
import { open } from '../lib/secret-box';
import { verifierType } from '../plugins/registry';
import type { VerifierPlugin } from '../plugins/types';

export const SOURCE_TTL_MS = 30_000;
const MISSING_TTL_MS = 5_000;
const MAX_ENTRIES = 10_000;

export interface ResolvedSource {
  id: string;
  tenantId: string;
  dedupWindowSeconds: number;
  configVersion: number;
  verifier: VerifierPlugin<unknown>;
  verifierConfig: unknown;
  secrets: string[];
}

type Entry = { expires: number; value: Promise<ResolvedSource | null> };
const cache = new Map<string, Entry>();

/**
 * Resolves a source, from memory when fresh. When Postgres cannot be reached and an older copy is
 * known, the older copy keeps serving (ingest stays up through a database outage); otherwise the
 * error propagates and the caller answers 503.
 */
export function resolveSource(env: Env, sourceId: string, waitUntil: (p: Promise<unknown>) => void): Promise<ResolvedSource | null> {
  const now = Date.now();
  const hit = cache.get(sourceId);
  if (hit && hit.expires > now) return hit.value;
  const stale = hit?.value;
  const value = load(env, sourceId, waitUntil).catch(async (error: unknown) => {
    const previous = stale ? await stale.catch(() => null) : null;
    if (previous) return previous;
    throw error;
  });
  const entry: Entry = { expires: now + SOURCE_TTL_MS, value };
  if (!hit && cache.size >= MAX_ENTRIES) cache.delete(cache.keys().next().value!);
  cache.set(sourceId, entry);
  value.then(
    (source) => {
      if (!source) entry.expires = Date.now() + MISSING_TTL_MS;
    },
    () => {
      if (cache.get(sourceId) === entry) cache.delete(sourceId);
    },
  );
  return value;
}

export function forgetSource(sourceId: string): void {
  cache.delete(sourceId);
}

async function load(env: Env, sourceId: string, waitUntil: (p: Promise<unknown>) => void): Promise<ResolvedSource | null> {
  const row = await withDb(env, (db) => findSourceForIngest(db, sourceId), waitUntil);
  if (!row) return null;
  const verifier = verifierType(row.verifier_type);
  if (!verifier) throw new Error(`source ${row.id} names unknown verifier type ${row.verifier_type}`);
  return {
    id: row.id,
    tenantId: row.tenant_id,
    dedupWindowSeconds: row.dedup_window_seconds,
    configVersion: Number(row.config_version),
    verifier,
    verifierConfig: verifier.config.parse(row.verifier_config),
    secrets: await Promise.all(row.sealed_secrets.map((sealed) => open(env.ENCRYPTION_KEY, sealed))),
  };
}
