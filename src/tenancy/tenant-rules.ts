/**
 * A tenant's ingest rules (event-type schemas, validator and transformer instances), compiled and
 * cached in isolate memory. Each copy carries the tenant's `config_version`; the TenantLog refuses an
 * append made under an older version than it has seen, and the caller reloads (see `acceptIngest`),
 * so a registered rule applies from the next event on, in every isolate.
 */
import { compileSchema } from '../lib/json-schema/compile';
import { withDb } from '../db/client';
import { loadTenantRules } from '../db/event-types';
import { pluginType } from '../plugins/registry';
import type { Instance } from '../plugins/runner';
import type { FieldProblem, RequestBudget, TransformerPlugin, ValidatorPlugin } from '../plugins/types';
import { rulesKey, throughShared } from './shared-cache';

export const RULES_TTL_MS = 30_000;
const MAX_TENANTS = 5_000;

export interface CompiledSchema {
  version: number;
  validate(data: unknown, budget?: RequestBudget): FieldProblem[];
}

export interface TenantRules {
  tenantId: string;
  version: number;
  schemas: Map<string, CompiledSchema>;
  validators: Instance<ValidatorPlugin>[];
  transformers: Instance<TransformerPlugin>[];
}

// Resolved copies only: an in-flight load is never shared between requests, because workerd does not
// let one request wait on I/O another request started (it can hang or fail with "Cannot perform I/O
// on behalf of a different request"). A cold burst costs one lookup per request, once.
type Entry = { expires: number; value: TenantRules };
const cache = new Map<string, Entry>();

export async function tenantRules(env: Env, tenantId: string, waitUntil: (p: Promise<unknown>) => void): Promise<TenantRules> {
  const hit = cache.get(tenantId);
  if (hit && hit.expires > Date.now()) return hit.value;
  // the Redis copy (shared-cache.ts) spares a cold isolate the database
  const row = await throughShared(env, rulesKey(tenantId), () => withDb(env, (db) => loadTenantRules(db, tenantId), waitUntil), waitUntil);
  const value = compile(tenantId, row);
  if (!hit && cache.size >= MAX_TENANTS) cache.delete(cache.keys().next().value!);
  cache.set(tenantId, { expires: Date.now() + RULES_TTL_MS, value });
  return value;
}

export function forgetTenantRules(tenantId: string): void {
  cache.delete(tenantId);
}

function compile(tenantId: string, row: Awaited<ReturnType<typeof loadTenantRules>>): TenantRules {
  const rules: TenantRules = { tenantId, version: Number(row?.config_version ?? 0), schemas: new Map(), validators: [], transformers: [] };
  for (const s of row?.schemas ?? []) {
    const compiled = compileSchema(s.schema);
    // a stored schema was valid when registered; if it no longer compiles, reject rather than skip it
    rules.schemas.set(s.type, {
      version: s.version,
      validate: compiled.ok ? compiled.validate : () => [{ pointer: '', detail: `the registered schema cannot be used: ${compiled.error}` }],
    });
  }
  for (const p of row?.plugins ?? []) {
    const plugin = pluginType(p.type);
    const parsed = plugin?.kind === p.kind ? plugin.config.safeParse(p.config) : undefined;
    // an instance whose type vanished or whose stored config no longer parses fails closed
    const unavailable = parsed?.success ? undefined : `plugin type ${p.type} is unavailable or its stored config is invalid`;
    const base = { id: p.id, name: p.name, config: parsed?.success ? parsed.data : null, eventTypes: p.event_types, unavailable };
    if (p.kind === 'validator') rules.validators.push({ ...base, plugin: plugin as ValidatorPlugin });
    else if (p.kind === 'transformer') rules.transformers.push({ ...base, plugin: plugin as TransformerPlugin });
  }
  return rules;
}
