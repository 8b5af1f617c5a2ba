/**
 * The Worker behind `npm run bench -- --costs` (stage-costs.ts): each step of the batch ingest path,
 * run on its own inside workerd against a SQLite-backed Durable Object, with Switchyard's own
 * functions, so the CPU each step costs per event can be told apart: the Worker's whole side
 * (`pipeline`, and its two largest parts alone), the RPC (`call`), the log's append and a flush's
 * SQLite side. Not part of the deploy bundle.
 *
 * workerd does not advance the clock inside synchronous code, so nothing here times itself: every
 * request runs one step over the batches prepared by `prepare` and the driver times the round trip
 * (minus an empty one). Type-checked with the Worker's types (the root tsconfig), not the scripts'.
 */
import { DurableObject } from 'cloudflare:workers';
import { appendToOutbox, dropFlushed, encodeOutbox, prepareOutbox } from '../../src/durable/outbox-store';
import { SLOT_MOVE_SCHEMA, upgradeSlotColumns } from '../../src/durable/slot-move-store';
import { SUBJECT_HEAD_SCHEMA, upgradeSubjectHeads } from '../../src/durable/subject-head-store';
import '../../src/built-ins';
import { readEnvelope } from '../../src/ingest/envelope';
import { acceptIngest, type IngestDeps } from '../../src/ingest/pipeline';
import { signV1 } from '../../src/plugins/kit';
import { verifierType } from '../../src/plugins/registry';
import type { ResolvedSource } from '../../src/tenancy/sources';
import type { AppendItem, AppendRequest } from '../../src/ingest/log-types';
import {
  appendPackedTo,
  type OneAppendValues,
  packItems,
  packResponse,
  type PackedAppender,
  type PackedAppendRequest,
  type PackedAppendResponse,
  unpackItems,
  unpackOne,
  unpackResponse,
} from '../../src/ingest/packed-append';
import { sha256HexEach } from '../../src/lib/encoding';
import { ONE_CALLS, type Step } from './stage-steps';

/** The prepared batches, also kept by the Worker for `call` (locally the Worker and the object share one isolate, but not their state). */
let prepared: AppendItem[][] = [];

const FLUSH_CHARS = 4 * 1024 * 1024;
const BATCH_HEADERS = new Headers({ 'content-type': 'application/cloudevents-batch+json' });

export class StageCosts extends DurableObject {
  private readonly sql: SqlStorage;
  private last = 0;
  /** The batches the next steps work on: the request bodies and the items ingest would hand the log. */
  private bodies: Uint8Array[] = [];
  private batches: AppendItem[][] = [];
  /** The same bodies as signed ingest requests of one Standard Webhooks source, for `pipeline`. */
  private signed: { headers: Headers; body: Uint8Array<ArrayBuffer> }[] = [];

  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env as never);
    this.sql = ctx.storage.sql;
    prepareOutbox(this.sql);
    this.sql.exec(`${SUBJECT_HEAD_SCHEMA}\n${SLOT_MOVE_SCHEMA}`);
    upgradeSubjectHeads(this.sql);
    upgradeSlotColumns(this.sql);
  }

  /** Runs `step` over the prepared batches; answers a figure that depends on the work, so none of it can be skipped. */
  async run(step: Step, bodies: string[]): Promise<number> {
    const now = Date.now();
    switch (step) {
      case 'empty':
        return 0;
      case 'prepare':
        this.bodies = bodies.map((b) => new TextEncoder().encode(b));
        this.batches = bodies.map((b) => itemsOf(b));
        this.signed = await Promise.all(this.bodies.map((body, i) => signedRequest(body as Uint8Array<ArrayBuffer>, `msg_costs_${this.last}_${i}`, now)));
        return this.batches.length;
      case 'call':
      case 'call-one':
      case 'call-one-packed':
        throw new Error(`\`${step}\` runs in the Worker`);
      case 'validate': {
        let valid = 0;
        for (const body of this.bodies) {
          const envelope = readEnvelope(BATCH_HEADERS, body);
          if (envelope.mode === 'batch') valid += envelope.items.filter((i) => i.ok).length;
        }
        return valid;
      }
      case 'pipeline': {
        // the Worker's side of a request: signature, envelope, hashes, rules, results; the log answers at once
        let accepted = 0;
        for (const { headers, body } of this.signed) {
          const outcome = await acceptIngest({ sourceId: SOURCE.id, headers, body, now }, PIPELINE_DEPS);
          if (outcome.kind === 'batch') accepted += outcome.results.filter((r) => r.status === 202).length;
        }
        return accepted;
      }
      case 'hash': {
        let chars = 0;
        for (const batch of this.batches) for (const hash of await sha256HexEach(batch.map((item) => item.json))) chars += hash.length;
        return chars;
      }
      case 'append':
        for (const batch of this.batches) {
          this.ctx.storage.transactionSync(() => {
            this.last = appendToOutbox(this.sql, batch, { lastSequence: this.last, now, expiresAt: now + 3_600_000 }).lastSequence;
          });
        }
        return this.last;
      case 'encode': {
        let chars = 0;
        for (let i = 0; i < this.batches.length; i++) chars += encodeOutbox(this.sql, { oldest: 1000, maxChars: FLUSH_CHARS }).events.length;
        return chars;
      }
      case 'drop': {
        // the rows a flush would drop: the oldest batch each time, found by sequence alone
        let dropped = 0;
        for (let i = 0; i < this.batches.length; i++) {
          const first = this.sql.exec<{ s: number | null }>('SELECT min(sequence) AS s FROM outbox').one().s;
          if (first === null) break;
          this.ctx.storage.transactionSync(() => dropFlushed(this.sql, first + 999, [], now));
          dropped += 1000;
        }
        return dropped;
      }
      case 'count':
        return this.sql.exec<{ n: number }>('SELECT count(*) AS n FROM outbox').one().n;
    }
  }

  /** The far end of `call-one`: takes one item as ingest sends it (`appendOne`) and answers as an append does, writing nothing. */
  takeOne(...values: OneAppendValues): string {
    const item = unpackOne(values).items[0]!;
    return JSON.stringify({
      kind: 'appended',
      results: [{ kind: 'accepted', id: `evt_${item.ceId.padStart(26, '0')}`, sequence: ++this.last, duplicate: false }],
    });
  }

  /** The far end of `call`: takes a batch as ingest sends it (`appendPacked`) and answers as many results as an append does, writing nothing. */
  take(request: PackedAppendRequest): PackedAppendResponse {
    const items = unpackItems(request.items);
    return packResponse({
      kind: 'appended',
      results: items.map((item, i) => ({ kind: 'accepted', id: `evt_${item.ceId.padStart(26, '0')}`, sequence: this.last + i + 1, duplicate: false })),
    });
  }
}

const CALL_REQUEST = (items: AppendItem[]): AppendRequest => ({ tenantId: 'ten_costs', dedupWindowSeconds: 86_400, configVersion: 1, items });

// fixed: random values cannot be drawn at a Worker's top level
const SECRET = `whsec_${btoa('switchyard-costs-bench-key')}`;
const VERIFIER = verifierType('standard-webhooks')!;
/** A source as the Worker caches it: the default verifier, no rate limits, one shard. */
const SOURCE: ResolvedSource = {
  id: 'src_01KCOSTS000000000000000000',
  tenantId: 'ten_costs',
  dedupWindowSeconds: 86_400,
  configVersion: 1,
  verifier: VERIFIER,
  verifierConfig: VERIFIER.config.parse({}),
  secrets: [SECRET],
  secretExpiresAt: [null],
  rateLimits: {},
  allowCritical: false,
  shards: 1,
  shardEpoch: 0,
  movingFrom: null,
};
let sequence = 0;
/** A tenant with no schemas or plugins, and a log that answers every item at once (the RPC and the append are steps of their own). */
const PIPELINE_DEPS: IngestDeps = {
  resolveSource: async () => SOURCE,
  rules: async () => ({ tenantId: SOURCE.tenantId, version: 1, schemas: new Map(), validators: [], transformers: [] }),
  append: async (_tenant, request) => ({
    kind: 'appended',
    results: request.items.map(() => ({ kind: 'accepted', id: 'evt_01KCOSTS000000000000000000', sequence: ++sequence, duplicate: false })),
  }),
  forget: () => {},
  verifierFetch: () => Promise.reject(new Error('no network in the costs bench')),
};

async function signedRequest(body: Uint8Array<ArrayBuffer>, id: string, now: number): Promise<{ headers: Headers; body: Uint8Array<ArrayBuffer> }> {
  const timestamp = Math.floor(now / 1000);
  const headers = new Headers({
    'content-type': 'application/cloudevents-batch+json',
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': await signV1(SECRET, id, timestamp, body),
  });
  return { headers, body };
}

/** What ingest hands the log for a batch body (hashes are not the step measured here, so they are stand-ins). */
function itemsOf(body: string): AppendItem[] {
  return (JSON.parse(body) as Record<string, unknown>[]).map((event, i) => ({
    sourceId: 'src_costs',
    ceId: String(event.id),
    sha256: `${String(event.id)}-${i}`.padEnd(64, '0'),
    type: String(event.type),
    subject: typeof event.subject === 'string' ? event.subject : null,
    time: typeof event.time === 'string' ? event.time : null,
    partitionKey: null,
    correlationId: null,
    causationId: null,
    json: JSON.stringify(event),
    schemaVersion: null,
  }));
}

export default {
  async fetch(request: Request, env: { COSTS: DurableObjectNamespace<StageCosts> }): Promise<Response> {
    const { step, bodies } = (await request.json()) as { step: Step; bodies?: string[] };
    const stub = env.COSTS.getByName('costs');
    if (step === 'prepare') prepared = (bodies ?? []).map((b) => itemsOf(b));
    const log: PackedAppender = {
      appendOne: (...values) => stub.takeOne(...values),
      appendPacked: (r) => stub.take(r),
      append: () => Promise.reject(new Error('not used')),
    };
    if (step === 'call') {
      // the Worker → Durable Object RPC of a 1,000-event append: the items' structured clone there, the results' back
      let answered = 0;
      for (const batch of prepared) {
        const response = await appendPackedTo(log, CALL_REQUEST(batch));
        if (response.kind === 'appended') answered += response.results.length;
      }
      return Response.json({ result: answered });
    }
    if (step === 'call-one' || step === 'call-one-packed') {
      // single-event ingest's RPC: one item there, one result back, as `appendOne` or as a packed append of one
      const items = prepared.flat().slice(0, ONE_CALLS);
      let answered = 0;
      for (const item of items) {
        const response =
          step === 'call-one'
            ? await appendPackedTo(log, CALL_REQUEST([item]))
            : unpackResponse(await log.appendPacked({ ...CALL_REQUEST([item]), items: packItems([item]) }));
        if (response.kind === 'appended') answered += response.results.length;
      }
      return Response.json({ result: answered });
    }
    return Response.json({ result: await stub.run(step, bodies ?? []) });
  },
};
