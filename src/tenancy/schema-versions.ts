/**
 * Older schema versions, for events whose `dataschema` names one (README "Schema evolution"). The
 * tenant's rules hold only the newest version of each type; an older one is read from Postgres on
 * first use and kept compiled in isolate memory. The key carries the tenant's config version, which a
 * deleted type bumps, so a deleted version stops validating with the next rules reload.
 */
import { withDb } from '../db/client';
import { eventTypeVersion } from '../db/event-types';
import { compileSchema } from '../lib/json-schema/compile';
import { problem, type Problem } from '../lib/problem';
import type { CompiledSchema, TenantRules } from './tenant-rules';

const MAX_KEPT = 500;
const kept = new Map<string, CompiledSchema | null>();

/** Reads and compiles one version; null when the type has no live version of that number. */
export type VersionLoader = (tenantId: string, type: string, version: number, configVersion: number) => Promise<CompiledSchema | null>;

export function schemaVersionLoader(env: Env, waitUntil: (p: Promise<unknown>) => void): VersionLoader {
  return async (tenantId, type, version, configVersion) => {
    const key = `${tenantId}\n${type}\n${version}\n${configVersion}`;
    if (kept.has(key)) return kept.get(key)!;
    const row = await withDb(env, (db) => eventTypeVersion(db, tenantId, type, version), waitUntil);
    let value: CompiledSchema | null = null;
    if (row) {
      const compiled = compileSchema(row.schema);
      value = {
        version: row.version,
        validate: compiled.ok ? compiled.validate : () => [{ pointer: '', detail: `the registered schema cannot be used: ${compiled.error}` }],
      };
    }
    if (kept.size >= MAX_KEPT) kept.delete(kept.keys().next().value!);
    kept.set(key, value);
    return value;
  };
}

/**
 * The schema an event is validated with: `version` (from its `dataschema`), or the newest when
 * undefined; undefined when the type has no schema. A version the type does not have is a 422
 * `schema_version_not_found`.
 */
export async function pickSchema(
  rules: TenantRules,
  type: string,
  version: number | undefined,
  load: VersionLoader | undefined,
): Promise<{ ok: true; schema: CompiledSchema | undefined } | { ok: false; problem: Problem }> {
  const newest = rules.schemas.get(type);
  if (version === undefined || version === newest?.version) return { ok: true, schema: newest };
  let older: CompiledSchema | null = null;
  try {
    if (newest && version >= 1 && version < newest.version && load) older = await load(rules.tenantId, type, version, rules.version);
  } catch (error) {
    console.error(JSON.stringify({ msg: 'schema version lookup failed', tenantId: rules.tenantId, type, version, error: String(error) }));
    return { ok: false, problem: problem(503, 'rules_unavailable', `version ${version} of ${type} could not be loaded; retry later`) };
  }
  if (older) return { ok: true, schema: older };
  const detail = newest
    ? `dataschema names version ${version} of ${type}, which it does not have (the newest is ${newest.version})`
    : `dataschema names version ${version} of ${type}, which has no registered schema`;
  return { ok: false, problem: problem(422, 'schema_version_not_found', detail, { errors: [{ pointer: '/dataschema', detail }] }) };
}
