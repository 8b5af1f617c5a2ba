/**
 * Work that all the hooks of one ingest request may still spend together, shared by its events: a
 * hook that meters its work (the json-schema validator counts subschema evaluations) draws from it,
 * so a batch of a thousand events cannot multiply a per-event cap. Absent outside ingest.
 */
export interface RequestBudget {
  evaluations: number;
}

/** What one ingest request starts with: JSON Schema subschema evaluations for all its events together (about 1 µs each). */
export const REQUEST_EVALUATION_BUDGET = 1_000_000;

export function requestBudget(): RequestBudget {
  return { evaluations: REQUEST_EVALUATION_BUDGET };
}
