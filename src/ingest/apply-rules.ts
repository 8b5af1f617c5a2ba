/**
 * A tenant's rules applied to one event before it is stored: the event type's JSON Schema, then the
 * validator instances, then the transformer instances whose patterns match the type, in order.
 */
import { matchesAny } from '../lib/type-pattern';
import { runTransformer, runValidator } from '../plugins/runner';
import type { FieldProblem, PluginEvent, RequestBudget, ScriptSandbox } from '../plugins/types';
import type { TenantRules } from '../tenancy/tenant-rules';
import { toIngestEvent, type IngestEvent } from './envelope';
import { problem, type Problem } from '../lib/problem';

export type RuleOutcome = { kind: 'keep'; event: IngestEvent } | { kind: 'drop'; by: string } | { kind: 'reject'; problem: Problem };

/** `budget` is shared by every event of the request (see `RequestBudget`); the pipeline makes one per request. */
export async function applyRules(rules: TenantRules, input: IngestEvent, sandbox?: ScriptSandbox, budget?: RequestBudget): Promise<RuleOutcome> {
  const { type } = input.event;
  const schema = rules.schemas.get(type);
  if (schema) {
    // a schema describes `data`; an event without JSON data cannot satisfy it (and must not reach the validator)
    const errors =
      input.event.data === undefined
        ? [{ pointer: '/data', detail: `events of type ${type} must carry JSON data matching the registered schema` }]
        : schema.validate(input.event.data, budget);
    if (errors.length > 0) {
      return {
        kind: 'reject',
        problem: problem(422, 'schema_violation', `the data does not match the schema of ${type} (version ${schema.version})`, { errors }),
      };
    }
  }
  let event = input.event as PluginEvent;
  for (const validator of rules.validators) {
    if (!matchesAny(validator.eventTypes, type)) continue;
    const verdict = await runValidator(rules.tenantId, validator, event, { sandbox, budget });
    if (verdict.kind === 'reject')
      return { kind: 'reject', problem: problem(422, verdict.code, verdict.detail, verdict.errors ? { errors: verdict.errors } : {}) };
  }
  let kept = input;
  for (const transformer of rules.transformers) {
    if (!matchesAny(transformer.eventTypes, type)) continue;
    const verdict = await runTransformer(rules.tenantId, transformer, event, { sandbox });
    if (verdict.kind === 'drop') return { kind: 'drop', by: verdict.by };
    if (verdict.kind === 'reject') return { kind: 'reject', problem: problem(422, verdict.code, verdict.detail) };
    // checked before the next one sees it, so the refusal names the transformer instead of leaving a poison row
    const checked = checkTransformed(transformer.name, verdict.event);
    if (!checked.ok) return { kind: 'reject', problem: problem(422, checked.code, checked.detail, checked.errors ? { errors: checked.errors } : {}) };
    kept = checked.value;
    event = checked.value.event as PluginEvent;
  }
  return { kind: 'keep', event: kept };
}

/**
 * What a transformer returns must be a CloudEvent that storage takes (the door's limits). Ingest and
 * the dry-run (`POST …/plugins/{id}/test`) judge it here, so a dry-run never passes what ingest refuses.
 */
export function checkTransformed(
  name: string,
  output: unknown,
): { ok: true; value: IngestEvent } | { ok: false; code: 'transformer_failed'; detail: string; errors?: FieldProblem[] } {
  const checked = toIngestEvent(output);
  if (checked.ok) return checked;
  const { code, detail, errors } = checked.problem;
  return {
    ok: false,
    code: 'transformer_failed',
    detail: `transformer ${name} produced an event that cannot be stored (${code}): ${detail}`,
    ...(errors ? { errors } : {}),
  };
}
