import { describe, expect, it } from 'vitest';
import { toHex, utf8 } from '../../src/lib/encoding';
import { api, call, createSource, createTenant, eventually, ingest, makeEvent, signedHeaders, withTestDb, type TestSource } from '../fixtures/api';

type Problem = { status: number; code: string; detail: string; errors?: { pointer: string; detail: string }[] };
type Item = { status: number; code?: string; detail?: string; sequence?: number };

/** `depth` arrays inside each other around `inner`: `[[[inner]]]`. */
const nested = (depth: number, inner = '1') => `${'['.repeat(depth)}${inner}${']'.repeat(depth)}`;
const structured = (data: string, id = `deep-${crypto.randomUUID()}`) =>
  `{"specversion":"1.0","id":"${id}","source":"https://example.com/x","type":"orders.created","data":${data}}`;

const storedCeIds = (tenantId: string) =>
  withTestDb(async (db) =>
    (await db.query<{ ce_id: string }>('SELECT ce_id FROM events WHERE tenant_id = $1 ORDER BY sequence', [tenantId])).rows.map((r) => r.ce_id),
  );

async function hmacHex(secret: string, message: string): Promise<string> {
  const key = await crypto.subtle.importKey('raw', utf8(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return toHex(new Uint8Array(await crypto.subtle.sign('HMAC', key, utf8(message))));
}

let shared: TestSource | undefined;
const source = async () => (shared ??= await createSource());

describe('ingest refuses what storage cannot take', () => {
  it('answers 422 event_too_deep naming the limit when data nests 100,000 deep, and still accepts the next event', async () => {
    const s = await source();
    const started = Date.now();
    const res = await ingest(s, structured(nested(100_000)));
    const took = Date.now() - started;
    expect(res.status).toBe(422);
    const body = await res.json<Problem>();
    expect(body).toMatchObject({ code: 'event_too_deep', errors: [{ pointer: '/data' }] });
    expect(body.detail).toContain('64');
    console.log(`refused a 100,000-deep event (${(200_000 / 1024).toFixed(0)} KB) in ${took} ms`);
    expect((await ingest(s, makeEvent())).status).toBe(202);
  });

  it('answers 422, never a 500, when the whole body or an extension attribute nests 100,000 deep', async () => {
    const s = await source();
    const deepExtension = `{"specversion":"1.0","id":"ext-deep","source":"/x","type":"orders.created","ext":${nested(100_000)}}`;
    const cases: [string, string][] = [
      [nested(100_000), 'application/cloudevents+json'],
      [nested(100_000), 'application/cloudevents-batch+json'],
      [deepExtension, 'application/cloudevents+json'],
      [`[${deepExtension}]`, 'application/cloudevents-batch+json'],
    ];
    for (const [body, type] of cases) {
      const res = await ingest(s, body, type);
      const answer = await res.json<Problem & { results?: Item[] }>();
      const status = answer.results ? answer.results[0]!.status : res.status;
      expect([status, answer.results?.[0]?.code ?? answer.code], `${type} ${body.slice(0, 60)}`).toEqual([
        422,
        expect.stringMatching(/^invalid_(event|batch)$/),
      ]);
    }
  });

  it('refuses data nested 10,000 deep with objects as well as arrays', async () => {
    const res = await ingest(await source(), structured(`${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`));
    expect(res.status).toBe(422);
    expect(await res.json()).toMatchObject({ code: 'event_too_deep' });
  });

  it('accepts and stores data nested exactly 64 deep', async () => {
    const s = await createSource();
    const res = await ingest(s, structured(nested(64), 'at-the-limit'));
    expect(res.status).toBe(202);
    expect(await eventually(async () => ((await storedCeIds(s.tenantId)).length ? storedCeIds(s.tenantId) : null))).toEqual(['at-the-limit']);
    expect((await ingest(s, structured(nested(65)))).status).toBe(422);
  });

  it('refuses only the too-deep items of a batch when the others are fine, and stores the others', async () => {
    const s = await createSource();
    const ok = (id: string) => JSON.stringify(makeEvent({ id }));
    const body = `[${ok('b-1')},${structured(nested(100_000))},${ok('b-2')},${structured(nested(65))},${ok('b-3')}]`;
    const res = await ingest(s, body, 'application/cloudevents-batch+json');
    expect(res.status).toBe(202);
    const { results } = await res.json<{ results: Item[] }>();
    expect(results.map((r) => [r.status, r.code])).toEqual([
      [202, undefined],
      [422, 'event_too_deep'],
      [202, undefined],
      [422, 'event_too_deep'],
      [202, undefined],
    ]);
    expect(await eventually(async () => ((await storedCeIds(s.tenantId)).length === 3 ? storedCeIds(s.tenantId) : null))).toEqual(['b-1', 'b-2', 'b-3']);
  });

  it('refuses a binary-mode event whose JSON body nests too deep', async () => {
    const s = await source();
    const body = nested(100_000);
    const res = await call(`/v1/ingest/${s.sourceId}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'ce-specversion': '1.0',
        'ce-id': 'bin-deep',
        'ce-source': '/x',
        'ce-type': 'orders.created',
        ...(await signedHeaders(s.secret, body)),
      },
      body,
    });
    expect(res.status).toBe(422);
    expect(await res.json()).toMatchObject({ code: 'event_too_deep' });
  });

  it('answers 422 event_too_large when the stored event would pass the per-event size limit', async () => {
    const s = await source();
    // 700 KB of control characters: within the 1 MiB body, but each is stored as a 6-character escape
    const body = '\u0001'.repeat(700_000);
    const res = await call(`/v1/ingest/${s.sourceId}`, {
      method: 'POST',
      headers: {
        'content-type': 'text/plain',
        'ce-specversion': '1.0',
        'ce-id': 'bin-big',
        'ce-source': '/x',
        'ce-type': 'orders.created',
        ...(await signedHeaders(s.secret, body)),
      },
      body,
    });
    expect(res.status).toBe(422);
    expect(await res.json()).toMatchObject({ code: 'event_too_large', detail: expect.stringContaining('1572864') });
  });

  it('refuses GitHub and Stripe payloads that nest too deep when their signatures are valid', async () => {
    const tenant = await createTenant();
    const github = await api<{ id: string }>('POST', `/v1/tenants/${tenant}/sources`, {
      name: 'gh',
      verifier: { type: 'github', config: {}, secret: 'gh-secret' },
    });
    const payload = `{"ref":"refs/heads/main","x":${nested(100_000)}}`;
    const gh = await call(`/v1/ingest/${github.body.id}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-github-event': 'push',
        'x-github-delivery': crypto.randomUUID(),
        'x-hub-signature-256': `sha256=${await hmacHex('gh-secret', payload)}`,
      },
      body: payload,
    });
    expect(gh.status).toBe(422);
    expect(await gh.json()).toMatchObject({ code: 'event_too_deep' });

    const stripe = await api<{ id: string }>('POST', `/v1/tenants/${tenant}/sources`, {
      name: 'st',
      verifier: { type: 'stripe', config: {}, secret: 'whsec_stripe-secret' },
    });
    const event = `{"id":"evt_deep","type":"charge.succeeded","data":{"object":${nested(20_000)}}}`;
    const t = Math.floor(Date.now() / 1000);
    const st = await call(`/v1/ingest/${stripe.body.id}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'stripe-signature': `t=${t},v1=${await hmacHex('whsec_stripe-secret', `${t}.${event}`)}` },
      body: event,
    });
    expect(st.status).toBe(422);
    expect(await st.json()).toMatchObject({ code: 'event_too_deep' });
  });

  it('refuses with transformer_failed when a script transformer returns data nested too deep or a NUL character', async () => {
    const cases: [string, string][] = [
      ['export function transform(e) { let d = 1; for (let i = 0; i < 5000; i++) d = [d]; return { ...e, data: d }; }', 'deeper than 64'],
      ['export function transform(e) { return { ...e, data: { note: "a\\u0000b" } }; }', 'NUL'],
    ];
    for (const [script, detail] of cases) {
      const s = await createSource();
      const plugin = await api('POST', `/v1/tenants/${s.tenantId}/plugins`, { type: 'script-transformer', name: 'shape', config: { source: script } });
      expect(plugin.status, JSON.stringify(plugin.body)).toBe(201);
      const res = await ingest(s, makeEvent());
      expect(res.status, script).toBe(422);
      expect(await res.json<Problem>(), script).toMatchObject({ code: 'transformer_failed', detail: expect.stringContaining(detail) });
    }
  });
});
