/**
 * The schema version an event names in its CloudEvents `dataschema` (README "Schema evolution"). Three
 * forms name one, for the event's own type:
 * - a URI whose path ends in `/event-types/{type}/versions/{n}` (the management API's address of the
 *   version, e.g. `https://sy.example/v1/tenants/tn_…/event-types/orders.created/versions/2`);
 * - any URI with a `version={n}` query parameter (`https://schemas.example/orders.json?version=2`);
 * - any URI with a `#v{n}` fragment (`urn:orders.created#v2`).
 * Any other `dataschema` is the producer's own business: the newest version validates the event.
 */
import { problem } from '../lib/problem';
import { matchesAny } from '../lib/type-pattern';
import type { RequestBudget } from '../lib/request-budget';
import type { ScriptSandbox } from '../plugins/types';
import { pickSchema, type VersionLoader } from '../tenancy/schema-versions';
import type { TenantRules } from '../tenancy/tenant-rules';
import { applyRules, type RuleOutcome } from './apply-rules';
import type { IngestEvent } from './envelope';

export type SchemaPin = { kind: 'newest' } | { kind: 'version'; version: number } | { kind: 'other_type'; type: string };

const API_PATH = /\/event-types\/([^/?#]+)\/versions\/(\d{1,9})(?:[?#].*)?$/;
const QUERY = /\?(?:[^#]*&)?version=(\d{1,9})(?:[&#]|$)/;
const FRAGMENT = /#v(\d{1,9})$/;

export function schemaPin(dataschema: string | undefined, type: string): SchemaPin {
  if (dataschema === undefined) return { kind: 'newest' };
  const path = API_PATH.exec(dataschema);
  if (path) {
    let named: string;
    try {
      named = decodeURIComponent(path[1]!);
    } catch {
      named = path[1]!;
    }
    return named === type ? { kind: 'version', version: Number(path[2]) } : { kind: 'other_type', type: named };
  }
  const numbered = QUERY.exec(dataschema) ?? FRAGMENT.exec(dataschema);
  return numbered ? { kind: 'version', version: Number(numbered[1]) } : { kind: 'newest' };
}

/** A rule outcome with the schema version that validated a kept event (null: the type has no schema). */
export type VersionedOutcome = RuleOutcome & { schemaVersion?: number | null };

/**
 * True when the tenant's rules cannot touch `event`: no `dataschema`, no schema of its type, and no
 * validator or transformer whose patterns match its type. `applyVersionedRules` would then keep it as
 * it is, with no schema version; ingest skips the call (and its promises) for such events.
 */
export function untouchedByRules(rules: TenantRules, event: IngestEvent['event']): boolean {
  const { type } = event;
  return (
    event.dataschema === undefined &&
    !rules.schemas.has(type) &&
    !rules.validators.some((v) => matchesAny(v.eventTypes, type)) &&
    !rules.transformers.some((t) => matchesAny(t.eventTypes, type))
  );
}

/**
 * `applyRules` with the schema the event's `dataschema` selects: the newest version of its type, or
 * the one it names (older ones through `load`). A `dataschema` naming another type's version is a 422
 * `dataschema_type_mismatch`; a version the type does not have, 422 `schema_version_not_found`.
 */
export async function applyVersionedRules(
  rules: TenantRules,
  input: IngestEvent,
  sandbox: ScriptSandbox | undefined,
  budget: RequestBudget | undefined,
  load: VersionLoader | undefined,
): Promise<VersionedOutcome> {
  const { type, dataschema } = input.event;
  const pin = schemaPin(dataschema, type);
  if (pin.kind === 'other_type') {
    const detail = `dataschema names a version of ${pin.type}, but the event's type is ${type}`;
    return { kind: 'reject', problem: problem(422, 'dataschema_type_mismatch', detail, { errors: [{ pointer: '/dataschema', detail }] }) };
  }
  const picked = await pickSchema(rules, type, pin.kind === 'version' ? pin.version : undefined, load);
  if (!picked.ok) return { kind: 'reject', problem: picked.problem };
  // applyRules reads the schema of the event's own type only
  const view = picked.schema === rules.schemas.get(type) || !picked.schema ? rules : { ...rules, schemas: new Map([[type, picked.schema]]) };
  const outcome = await applyRules(view, input, sandbox, budget);
  return outcome.kind === 'keep' ? { ...outcome, schemaVersion: picked.schema?.version ?? null } : outcome;
}
