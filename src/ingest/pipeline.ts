/**
 * The ingest path, free of HTTP framework code: resolve the source, verify the signature on the raw
 * bytes, read the CloudEvent envelope (or take the event a provider verifier built), apply the
 * tenant's rules, then hand the events to the tenant's log, which answers once they are durable.
 */
import type { AppendItem, AppendRequest, AppendResponse } from './log-types';
import { sha256HexEach } from '../lib/encoding';
import { formatTraceparent, isTracestate, newTraceparent, parseTraceparent, type TraceParent } from '../lib/trace-context';
import { runVerifier } from '../plugins/runner';
import { requestBudget, type ScriptSandbox, type VerifierFetch } from '../plugins/types';
import { activeSecrets, type ResolvedSource } from '../tenancy/sources';
import type { TenantRules } from '../tenancy/tenant-rules';
import type { RuleOutcome } from './apply-rules';
import { applyVersionedRules, untouchedByRules, type VersionedOutcome } from './dataschema';
import type { VersionLoader } from '../tenancy/schema-versions';
import { readEnvelope, toIngestEvent, type IngestEvent, type ItemResult } from './envelope';
import { problem, type Problem } from '../lib/problem';
import { unsignedAttributes } from './signed-attributes';

export interface IngestInput {
  sourceId: string;
  headers: Headers;
  body: Uint8Array<ArrayBuffer>;
  now: number;
  /** The exported ingest span's context, when spans are exported: events without a trace context of their own name it as parent. */
  ingestSpan?: TraceParent;
}

export interface IngestDeps {
  resolveSource(sourceId: string): Promise<ResolvedSource | null>;
  rules(tenantId: string): Promise<TenantRules>;
  append(tenantId: string, request: AppendRequest): Promise<AppendResponse>;
  /** Drops cached copies of the source and the tenant's rules after the log reported them stale. */
  forget(source: ResolvedSource): void;
  /** The tenant's script sandbox; absent without the Worker Loader binding (script plugins then fail closed). */
  sandbox?(tenantId: string): ScriptSandbox;
  /** After a refusal (signature, rate limit): a newer copy of the source if its config changed (a rotated secret, new limits), else null. */
  fresher?(source: ResolvedSource): Promise<ResolvedSource | null>;
  /**
   * The tenant's and source's rate limits: a 429 problem when the request is over one, else null.
   * Called again after a reload; it must count a request once per set of limits.
   */
  rateLimit?(source: ResolvedSource): Promise<Problem | null>;
  /**
   * A request over a rate limit went through because every event in it is `critical` and the source
   * may send those (README "Priorities"): counted for the metrics, as `rate_limit_bypassed`.
   */
  bypassedRateLimit?(source: ResolvedSource): void;
  /** The network verifiers get (`verifierFetch` of delivery/verifier-egress.ts): HTTPS to public hosts, plus what `EGRESS_ALLOWLIST` names. */
  verifierFetch: VerifierFetch;
  /** Older schema versions, for events whose `dataschema` names one (tenancy/schema-versions.ts); absent: only the newest exists. */
  schemaVersion?: VersionLoader;
}

export interface Accepted {
  id: string;
  sequence: number;
  duplicate: boolean;
}

export type ItemOutcome =
  | ({ status: 202 } & Accepted)
  | { status: 200; dropped: true; detail: string }
  | { status: number; code: string; detail: string; errors?: Problem['errors']; current_sequence?: number };

export type IngestOutcome =
  /** `stored`: the event as the log recorded it and the tenant config version it was accepted under (for sync mode, src/delivery/sync-actions.ts). */
  | { kind: 'single'; result: Exclude<ItemOutcome, { code: string }>; stored?: { tenantId: string; item: AppendItem; configVersion: number } }
  | { kind: 'batch'; results: ItemOutcome[] }
  | { kind: 'problem'; problem: Problem };

const SOURCE_ID = /^src_[0-9A-Z]{26}$/;
const unavailable = (code: string, detail: string, retryAfter: string) => ({
  kind: 'problem' as const,
  problem: problem(503, code, detail, { headers: { 'retry-after': retryAfter } }),
});

export async function acceptIngest(input: IngestInput, deps: IngestDeps): Promise<IngestOutcome> {
  let found: ResolvedSource | null = null;
  try {
    if (SOURCE_ID.test(input.sourceId)) found = await deps.resolveSource(input.sourceId);
  } catch (error) {
    console.error(JSON.stringify({ msg: 'source lookup failed', sourceId: input.sourceId, error: String(error) }));
    return unavailable('source_lookup_unavailable', 'the source could not be looked up; retry later', '5');
  }
  if (!found) return { kind: 'problem', problem: problem(404, 'source_not_found', `no source ${input.sourceId}`) };

  let source = found;
  const verify = (s: ResolvedSource) =>
    runVerifier(s.verifier, {
      headers: input.headers,
      body: input.body,
      config: s.verifierConfig,
      secrets: activeSecrets(s, input.now),
      now: input.now,
      fetch: deps.verifierFetch,
    });
  let verdict = await verify(source);
  const fresher = verdict.ok ? null : await deps.fresher?.(source);
  if (fresher) verdict = await verify((source = fresher));
  if (!verdict.ok) return { kind: 'problem', problem: problem(401, verdict.code, verdict.detail) };
  // read only once needed: after the rate limits, unless they refused and the events may skip them
  let envelope: { mode: 'single' | 'batch'; items: ItemResult[] } | { mode: 'invalid'; problem: Problem } | null = null;
  const read = () => (envelope ??= verdict.event ? { mode: 'single', items: [toIngestEvent(verdict.event)] } : envelopeItems(input.headers, input.body));
  /** The refusal stands unless every event is critical and the source may send critical events; a skip is counted. */
  const refusal = (limit: Problem | null | undefined, s: ResolvedSource): Problem | null => {
    if (!limit) return null;
    const r = read();
    if (!s.allowCritical || r.mode === 'invalid' || !r.items.every(isCritical)) return limit;
    deps.bypassedRateLimit?.(s);
    return null;
  };
  let limited = await deps.rateLimit?.(source);
  // a refusal under an older copy of the limits (since raised or lifted) is checked against the current ones
  const relimit = limited ? await deps.fresher?.(source) : null;
  if (relimit) limited = await deps.rateLimit?.((source = relimit));
  const over = refusal(limited, source);
  if (over) return { kind: 'problem', problem: over };

  const envelopeRead = read();
  if (envelopeRead.mode === 'invalid') return { kind: 'problem', problem: envelopeRead.problem };
  const mode = envelopeRead.mode;
  const items = envelopeRead.items;
  // a refusal under an older copy of the source (allow_critical since turned on) is checked against the current one
  if (!source.allowCritical && items.some(isCritical)) source = (await deps.fresher?.(source)) ?? source;
  const unsigned = unsignedAttributes(input.headers, source.verifier.id, verdict, items);
  if (unsigned) return { kind: 'problem', problem: unsigned };
  const trace = requestTrace(input.headers, input.ingestSpan);
  // dedup hashes describe what the producer sent, so a resend matches even if a transformer changes later
  // a refused item's hash (of nothing) is never used
  const hashes = await sha256HexEach(items.map((item) => (item.ok ? item.value.json : '')));

  let results: ItemOutcome[] | null = null;
  // after a stale answer we reload from Postgres, which is authoritative even if the log claims a
  // newer version (as after a database restore), so the retry vouches for the log's version
  let vouchFor = 0;
  let stored: { tenantId: string; item: AppendItem; configVersion: number } | undefined;
  // three tries: a change of the shard count bumps the version twice within a moment (at its start and when done)
  for (let attempt = 0; attempt < 3 && !results; attempt++) {
    let rules: TenantRules;
    try {
      rules = await deps.rules(source.tenantId);
    } catch (error) {
      console.error(JSON.stringify({ msg: 'tenant rules lookup failed', tenantId: source.tenantId, error: String(error) }));
      return unavailable('rules_unavailable', 'the tenant rules could not be loaded; retry later', '5');
    }
    const sandbox = deps.sandbox?.(source.tenantId);
    // one budget for all the events of the request, so a batch cannot multiply a per-event cap
    const budget = requestBudget();
    const allowCritical = source.allowCritical;
    // an event no rule can touch is kept as it is without a promise of its own (most events of most tenants)
    const pending = items.map((item): VersionedOutcome | Promise<VersionedOutcome> => {
      if (!item.ok) return { kind: 'reject', problem: item.problem };
      if (untouchedByRules(rules, item.value.event)) return { kind: 'keep', event: item.value, schemaVersion: null };
      return applyVersionedRules(rules, item.value, sandbox, budget, deps.schemaVersion);
    });
    const settled = pending.some((o) => o instanceof Promise) ? await Promise.all(pending) : (pending as VersionedOutcome[]);
    const outcomes = settled.map((o) => (o.kind === 'keep' && !allowCritical && isCritical({ ok: true, value: o.event }) ? criticalRefused : o));
    const appendItems = outcomes.flatMap((o, i) =>
      o.kind === 'keep' ? [toAppendItem(source.id, o.event, hashes[i]!, trace, (o as VersionedOutcome).schemaVersion ?? null)] : [],
    );
    let appended: AppendResponse = { kind: 'appended', results: [] };
    if (appendItems.length > 0) {
      const request = {
        tenantId: source.tenantId,
        dedupWindowSeconds: source.dedupWindowSeconds,
        configVersion: Math.max(vouchFor, Math.min(source.configVersion, rules.version)),
        items: appendItems,
        shards: source.shards,
        epoch: source.shardEpoch,
        movingFrom: source.movingFrom,
      };
      try {
        appended = await deps.append(source.tenantId, request);
      } catch (error) {
        console.error(JSON.stringify({ msg: 'tenant log append failed', tenantId: source.tenantId, error: String(error) }));
        return unavailable('storage_unavailable', 'the events could not be stored durably; nothing was accepted, retry later', '1');
      }
    }
    if (appended.kind === 'gone') {
      // the tenant was deleted since this isolate cached its source
      deps.forget(source);
      return { kind: 'problem', problem: problem(404, 'source_not_found', `no source ${input.sourceId}`) };
    }
    if (appended.kind === 'stale') {
      vouchFor = appended.configVersion;
      deps.forget(source);
      let reloaded: ResolvedSource | null;
      try {
        reloaded = await deps.resolveSource(source.id);
      } catch {
        return unavailable('source_lookup_unavailable', 'the source changed and could not be reloaded; retry later', '1');
      }
      // deleted since this isolate cached it
      if (!reloaded) return { kind: 'problem', problem: problem(404, 'source_not_found', `no source ${input.sourceId}`) };
      source = reloaded;
      // the change may have been to the rate limits
      const limitedNow = refusal(await deps.rateLimit?.(source), source);
      if (limitedNow) return { kind: 'problem', problem: limitedNow };
      continue;
    }
    if (appendItems.length === 1) stored = { tenantId: source.tenantId, item: appendItems[0]!, configVersion: rules.version };
    let next = 0;
    const appendedResults = appended.results;
    results = outcomes.map((o): ItemOutcome => {
      if (o.kind === 'reject')
        return { status: o.problem.status, code: o.problem.code, detail: o.problem.detail, ...(o.problem.errors ? { errors: o.problem.errors } : {}) };
      if (o.kind === 'drop') return { status: 200, dropped: true, detail: `dropped by transformer ${o.by}` };
      const r = appendedResults[next++]!;
      if (r.kind === 'sequence_conflict')
        return {
          status: 409,
          code: 'sequence_conflict',
          detail: `the subject's last sequence is ${r.currentSequence}, not the event's expectedsequence; nothing was written`,
          current_sequence: r.currentSequence,
        };
      if (r.kind === 'sequence_unknown')
        return {
          status: 503,
          code: 'sequence_check_unavailable',
          detail: "the subject's last sequence could not be read just now; nothing was written, retry",
        };
      if (r.kind === 'moving' || r.kind === 'moved' || r.kind === 'shard_moving')
        return { status: 503, code: 'shard_moving', detail: SHARD_REFUSALS.shard_moving };
      if (r.kind === 'claim_contended' || r.kind === 'claim_expired' || r.kind === 'idempotency_pending' || r.kind === 'storage_unavailable')
        return { status: 503, code: r.kind === 'storage_unavailable' ? r.kind : 'idempotency_pending', detail: SHARD_REFUSALS[r.kind] };
      if (r.kind === 'conflict')
        return {
          status: 422,
          code: 'idempotency_conflict',
          detail: `event id was already accepted with a different body (as ${r.id}, sequence ${r.sequence})`,
        };
      return { status: 202, id: r.id, sequence: r.sequence, duplicate: r.duplicate };
    });
  }
  if (!results) return unavailable('storage_unavailable', 'the tenant configuration kept changing; retry', '1');

  if (mode === 'batch') return { kind: 'batch', results };
  const only = results[0]!;
  if ('code' in only) {
    const extra = {
      ...(only.errors ? { errors: only.errors } : {}),
      ...(only.current_sequence === undefined ? {} : { extensions: { current_sequence: only.current_sequence } }),
      ...(only.status === 503 ? { headers: { 'retry-after': '1' } } : {}),
    };
    return { kind: 'problem', problem: problem(only.status, only.code, only.detail, extra) };
  }
  return { kind: 'single', result: only, ...(stored ? { stored } : {}) };
}

/** Per-item 503s of multi-shard tenants (docs/design/sharding.md §2); nothing was written for them. */
const SHARD_REFUSALS = {
  claim_contended: 'another request is using this event id with a different key; nothing was written, retry',
  claim_expired: "the event id's claim expired before the event reached its shard; nothing was written, retry",
  idempotency_pending: 'another request is using this event id with a different key and has not finished; nothing was written, retry',
  storage_unavailable: "the event's shard could not store it durably; nothing was written, retry later",
  shard_moving: "a change of the tenant's shard count is moving this event's key to another shard right now; nothing was written, retry in a second",
} as const;

function envelopeItems(headers: Headers, body: Uint8Array): { mode: 'single' | 'batch'; items: ItemResult[] } | { mode: 'invalid'; problem: Problem } {
  const envelope = readEnvelope(headers, body);
  if (envelope.mode === 'invalid') return envelope;
  return { mode: envelope.mode, items: envelope.mode === 'single' ? [envelope.item] : envelope.items };
}

function isCritical(item: ItemResult): boolean {
  return item.ok && item.value.event.priority === 'critical';
}

/** Critical events skip the rate limits and take the critical lane, which all tenants share: only sources an admin allowed may send them. */
const criticalRefused: RuleOutcome = {
  kind: 'reject',
  problem: problem(
    422,
    'critical_not_allowed',
    'this source may not send events with priority "critical"; an admin allows it with allow_critical on the source',
    {
      errors: [{ pointer: '/priority', detail: 'critical needs allow_critical on the source' }],
    },
  ),
};

/**
 * The trace context an event of this request is stored with when it carries none of its own: the
 * request's `traceparent` (and `tracestate`) header, else a new trace that Switchyard starts; one per
 * request, so a batch is one trace. Kept out of the dedup hash, so a retry on a new trace is still a
 * duplicate. When spans are exported, `ingestSpan` (a child of the header's, or a new root) stands in
 * for the header's span, so a receiver's parent is a span the collector has.
 */
export function requestTrace(headers: Headers, ingestSpan?: TraceParent): string {
  const header = parseTraceparent(headers.get('traceparent'));
  const parent = ingestSpan ?? header;
  if (!parent) return `"traceparent":${JSON.stringify(formatTraceparent(newTraceparent()))}`;
  const state = header ? headers.get('tracestate') : null;
  const attributes = `"traceparent":${JSON.stringify(formatTraceparent(parent))}`;
  return state && isTracestate(state) ? `${attributes},"tracestate":${JSON.stringify(state)}` : attributes;
}

function toAppendItem(sourceId: string, value: IngestEvent, sha256: string, trace: string, schemaVersion: number | null): AppendItem {
  const { event } = value;
  // the stored JSON is an object written by JSON.stringify, and has no traceparent key: splice one in
  const json = event.traceparent === undefined ? `{${trace},${value.json.slice(1)}` : value.json;
  return {
    sourceId,
    ceId: event.id,
    sha256,
    type: event.type,
    subject: event.subject ?? null,
    time: event.time ?? null,
    partitionKey: value.partitionKey,
    correlationId: value.correlationId,
    causationId: value.causationId,
    expectedSequence: value.expectedSequence,
    schemaVersion,
    json,
  };
}
