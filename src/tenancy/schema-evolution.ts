/**
 * Whether a new schema version may be registered for an event type (README "Schema evolution"), run
 * in the registration's transaction under `lockEventType`, so the version it compares with stays the
 * newest until the new one is inserted. Under
 * the type's compatibility mode it is compared with the newest live version (`compat.ts`), and under
 * `backward` and `full` it must also accept a sample of the type's recently stored events.
 */
import { latestVersion, sampleEventData } from '../db/event-types';
import type { Db } from '../db/client';
import { type CompatibilityMode, compatibilityProblems, DEFAULT_COMPATIBILITY, MAX_COMPAT_REASONS } from '../lib/json-schema/compat';
import type { FieldError } from '../lib/problem';
import { problem, type Problem } from '../lib/problem';
import type { RequestBudget } from '../lib/request-budget';

/** Subschema evaluations the stored-event sample may take in all (about 1 µs each); the rest of the sample is skipped. */
export const SAMPLE_EVALUATIONS = 2_000_000;
/** Stored events named in a refusal; the rest are counted. */
const NAMED_EVENTS = 5;

export type EvolutionVerdict = { ok: true; compatibility: CompatibilityMode } | { ok: false; problem: Problem };

type Validate = (data: unknown, budget?: RequestBudget) => { pointer: string; detail: string }[];

export async function checkEvolution(
  db: Db,
  tenantId: string,
  type: string,
  schema: unknown,
  validate: Validate,
  requested?: CompatibilityMode,
): Promise<EvolutionVerdict> {
  const latest = await latestVersion(db, tenantId, type);
  const compatibility = requested ?? latest?.compatibility ?? DEFAULT_COMPATIBILITY;
  if (!latest || compatibility === 'none') return { ok: true, compatibility };
  const reasons: FieldError[] = compatibilityProblems(latest.schema, schema, compatibility);
  let sampled = 0;
  if (compatibility === 'backward' || compatibility === 'full') {
    const samples = await sampleEventData(db, tenantId, type);
    const budget = { evaluations: SAMPLE_EVALUATIONS };
    const refused: string[] = [];
    for (const sample of samples) {
      const errors = validate(sample.data, budget);
      // a verdict reached with the budget spent may be the budget's own refusal
      if (budget.evaluations <= 0) break;
      sampled++;
      const first = errors[0];
      if (!first) continue;
      refused.push(sample.id);
      if (refused.length <= NAMED_EVENTS && reasons.length < MAX_COMPAT_REASONS + NAMED_EVENTS)
        reasons.push({ pointer: first.pointer, detail: `stored event ${sample.id} is refused by the new version: ${first.detail}` });
    }
    if (refused.length > NAMED_EVENTS)
      reasons.push({
        pointer: '/data',
        detail: `and ${refused.length - NAMED_EVENTS} more of the ${sampled} most recent stored events of ${type} are refused`,
      });
  }
  if (reasons.length === 0) return { ok: true, compatibility };
  return {
    ok: false,
    problem: problem(
      409,
      'schema_incompatible',
      `the schema breaks the ${compatibility} compatibility of ${type} with version ${latest.version}; change the schema, or the type's compatibility mode (PATCH …/event-types/${type})`,
      { errors: reasons },
    ),
  };
}
