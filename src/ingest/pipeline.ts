/**
 * The ingest path, free of HTTP framework code: resolve the source, verify the signature on the raw
 * bytes, read the CloudEvent envelope, then hand the valid events to the tenant's log, which answers
 * only once they are durable.
 */
import type { AppendItem, AppendRequest, AppendResult } from '../durable/log-types';
import { sha256Hex } from '../lib/encoding';
import { runVerifier } from '../plugins/runner';
import type { ResolvedSource } from '../tenancy/sources';
import { readEnvelope, type IngestEvent, type ItemResult } from './envelope';
import { problem, type Problem } from './problem';

export interface IngestInput {
  sourceId: string;
  headers: Headers;
  body: Uint8Array<ArrayBuffer>;
  now: number;
}

export interface IngestDeps {
  resolveSource(sourceId: string): Promise<ResolvedSource | null>;
  append(tenantId: string, request: AppendRequest): Promise<AppendResult[]>;
}

export interface Accepted {
  id: string;
  sequence: number;
  duplicate: boolean;
}

export type BatchItemResult = ({ status: 202 } & Accepted) | { status: number; code: string; detail: string; errors?: Problem['errors'] };

export type IngestOutcome =
  | { kind: 'single'; accepted: Accepted }
  | { kind: 'batch'; results: BatchItemResult[] }
  | { kind: 'problem'; problem: Problem };

const SOURCE_ID = /^src_[0-9A-Z]{26}$/;

export async function acceptIngest(input: IngestInput, deps: IngestDeps): Promise<IngestOutcome> {
  let source: ResolvedSource | null = null;
  if (SOURCE_ID.test(input.sourceId)) {
    try {
      source = await deps.resolveSource(input.sourceId);
    } catch (error) {
      console.error(JSON.stringify({ msg: 'source lookup failed', sourceId: input.sourceId, error: String(error) }));
      return { kind: 'problem', problem: problem(503, 'source_lookup_unavailable', 'the source could not be looked up; retry later', { headers: { 'retry-after': '5' } }) };
    }
  }
  if (!source) return { kind: 'problem', problem: problem(404, 'source_not_found', `no source ${input.sourceId}`) };

  const verdict = await runVerifier(source.verifier, {
    headers: input.headers,
    body: input.body,
    config: source.verifierConfig,
    secrets: source.secrets,
    now: input.now,
  });
  if (!verdict.ok) return { kind: 'problem', problem: problem(401, verdict.code, verdict.detail) };

  const envelope = readEnvelope(input.headers, input.body);
  if (envelope.mode === 'invalid') return { kind: 'problem', problem: envelope.problem };
  const items: ItemResult[] = envelope.mode === 'single' ? [envelope.item] : envelope.items;
  const valid = items.flatMap((item) => (item.ok ? [item.value] : []));

  let appended: AppendResult[] = [];
  if (valid.length > 0) {
    const request = { tenantId: source.tenantId, dedupWindowSeconds: source.dedupWindowSeconds, items: await Promise.all(valid.map((v) => toAppendItem(source.id, v))) };
    try {
      appended = await deps.append(source.tenantId, request);
    } catch (error) {
      console.error(JSON.stringify({ msg: 'tenant log append failed', tenantId: source.tenantId, error: String(error) }));
      return {
        kind: 'problem',
        problem: problem(503, 'storage_unavailable', 'the events could not be stored durably; nothing was accepted, retry later', { headers: { 'retry-after': '1' } }),
      };
    }
  }

  let next = 0;
  const results = items.map((item): BatchItemResult => {
    if (!item.ok) return { status: item.problem.status, code: item.problem.code, detail: item.problem.detail, errors: item.problem.errors };
    const result = appended[next++]!;
    if (result.kind === 'conflict') {
      return { status: 422, code: 'idempotency_conflict', detail: `event id was already accepted with a different body (as ${result.id}, sequence ${result.sequence})` };
    }
    return { status: 202, id: result.id, sequence: result.sequence, duplicate: result.duplicate };
  });

  if (envelope.mode === 'batch') return { kind: 'batch', results };
  const only = results[0]!;
  if (only.status !== 202) {
    const failed = only as Exclude<BatchItemResult, { status: 202 }>;
    return { kind: 'problem', problem: problem(failed.status, failed.code, failed.detail, failed.errors ? { errors: failed.errors } : {}) };
  }
  const { status: _status, ...accepted } = only as { status: 202 } & Accepted;
  return { kind: 'single', accepted };
}

async function toAppendItem(sourceId: string, value: IngestEvent): Promise<AppendItem> {
  const { event } = value;
  return {
    sourceId,
    ceId: event.id,
    sha256: await sha256Hex(value.json),
    type: event.type,
    subject: event.subject ?? null,
    time: event.time ?? null,
    partitionKey: value.partitionKey,
    correlationId: value.correlationId,
    causationId: value.causationId,
    json: value.json,
  };
}
