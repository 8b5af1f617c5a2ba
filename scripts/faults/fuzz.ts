/**
 * (e) Bad input, generated with fast-check, against the ingest endpoint and every management route
 * the deployment's own OpenAPI document lists: random bodies (JSON, near-CloudEvents, deep nesting,
 * invalid UTF-8, raw bytes, bodies just over 1 MiB), content types, headers (including correctly
 * signed requests, so the fuzz reaches the envelope, the schema check and the TenantLog), unicode
 * and path parameters. Passes with zero 5xx, zero requests left unanswered, and a runtime that still
 * serves afterwards. FAULTS_SEED replays a run; FAULTS_FUZZ_RUNS sets the number of requests.
 */
import { join } from 'node:path';
import fc from 'fast-check';
import { signatureHeaders } from '../lib/standard-webhooks.ts';
import { createSource, makeEvent, send, signedIngest, type Source } from '../lib/switchyard-api.ts';
import { launch, type FaultEnv, type ScenarioOutcome, FAULT_SHARDS } from './harness.ts';

interface FuzzRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string | Uint8Array;
  label: string;
}

const printable = fc.string({
  unit: fc.constantFrom(...' !#$%&()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]^_`abcdefghijklmnopqrstuvwxyz{|}~'.split('')),
  maxLength: 40,
});
const unicode = fc.string({ unit: 'binary', maxLength: 60 });
const deep = fc
  .tuple(fc.integer({ min: 50, max: 20_000 }), fc.constantFrom('[', '{"a":'))
  .map(([n, open]) => (open === '[' ? `${'['.repeat(n)}${']'.repeat(n)}` : `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`));
const huge = fc.integer({ min: 1_048_000, max: 3_000_000 }).map((n) => `{"specversion":"1.0","id":"big","source":"s","type":"a.b","data":"${'x'.repeat(n)}"}`);
const jsonish = fc.jsonValue({ maxDepth: 6 }).map((v) => JSON.stringify(v));
const attribute = fc.oneof(unicode, printable, fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.jsonValue({ maxDepth: 3 }));
const timeish = fc.oneof(
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  fc.constantFrom('2024-02-30T00:00:00Z', '0000-01-01T00:00:00Z', '+275760-09-13T00:00:00Z', '2024-01-01', 'now'),
  printable,
);
/** Mostly-valid CloudEvents (so many reach validation, dedup and the TenantLog), with random data and the odd bad attribute. */
const often = <T, U>(good: fc.Arbitrary<T>, bad: fc.Arbitrary<U>) => fc.oneof({ weight: 6, arbitrary: good }, { weight: 1, arbitrary: bad });
const cloudEvent = fc
  .record(
    {
      specversion: often(fc.constant('1.0'), attribute),
      id: often(
        fc.oneof(
          fc.uuid(),
          unicode.filter((s) => s.length > 0),
        ),
        fc.oneof(attribute, fc.string({ minLength: 250, maxLength: 300 })),
      ),
      source: often(fc.constantFrom('https://fuzz.example', 'urn:fuzz', '/x'), attribute),
      type: often(fc.constantFrom('orders.created', 'fuzz.thing', 'a.b.c'), fc.oneof(printable, attribute)),
      time: often(
        fc.date({ noInvalidDate: true, min: new Date(0), max: new Date(4e12) }).map((d) => d.toISOString()),
        timeish,
      ),
      subject: often(printable, attribute),
      data: fc.oneof(fc.jsonValue({ maxDepth: 8 }), fc.dictionary(unicode, fc.jsonValue({ maxDepth: 4 }), { maxKeys: 5 })),
      data_base64: fc.oneof(fc.base64String(), unicode),
      partitionkey: often(printable, attribute),
      datacontenttype: printable,
    },
    { requiredKeys: ['specversion', 'id', 'source', 'type'] },
  )
  .chain((event) =>
    fc.dictionary(fc.oneof(fc.stringMatching(/^[a-z0-9]{1,20}$/), printable, unicode), attribute, { maxKeys: 2 }).map((extra) => ({ ...extra, ...event })),
  );
const body = fc.oneof(
  { weight: 6, arbitrary: cloudEvent.map((e) => JSON.stringify(e)) },
  { weight: 4, arbitrary: fc.array(cloudEvent, { maxLength: 12 }).map((a) => JSON.stringify(a)) },
  { weight: 3, arbitrary: jsonish },
  { weight: 2, arbitrary: unicode },
  { weight: 2, arbitrary: deep },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 600 }) },
  { weight: 1, arbitrary: fc.constantFrom('', '{', 'null', '[]', '[null]', '{"specversion":"1.0"}', '\uFEFF{}', '"\\ud800"', '{"id":"\\u0000"}') },
  {
    weight: 1,
    arbitrary: fc
      .integer({ min: 1001, max: 1003 })
      .map((n) => JSON.stringify(Array.from({ length: n }, (_, i) => ({ specversion: '1.0', id: `b${i}`, source: 's', type: 'a.b' })))),
  },
  { weight: 1, arbitrary: huge },
);
const contentType = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('application/cloudevents+json', 'application/cloudevents-batch+json') },
  fc.constantFrom(
    'application/cloudevents+json',
    'application/cloudevents-batch+json',
    'application/json',
    'text/plain',
    'application/octet-stream',
    'application/cloudevents+json; charset=utf-16',
    'multipart/form-data; boundary=x',
    '',
  ),
  printable,
);
const ceHeaders = fc.dictionary(
  fc.constantFrom('ce-specversion', 'ce-id', 'ce-source', 'ce-type', 'ce-time', 'ce-subject', 'ce-partitionkey', 'ce-datacontenttype', 'ce-x'),
  fc.oneof(
    printable,
    unicode.map((s) => encodeURIComponent(s.replace(/[\ud800-\udfff]/g, ''))),
    fc.constantFrom('1.0', '%E0%A4%A', '%', 'a.b'),
  ),
  { maxKeys: 4 },
);

function ingestRequests(source: Source): fc.Arbitrary<FuzzRequest> {
  return fc
    .record({
      body,
      contentType,
      ce: fc.option(ceHeaders, { freq: 4 }),
      signing: fc.constantFrom('valid', 'valid', 'valid', 'valid', 'valid', 'valid', 'none', 'garbage', 'stale', 'wrong-secret'),
      sourceId: fc.oneof(
        { weight: 8, arbitrary: fc.constant(source.sourceId) },
        { weight: 1, arbitrary: printable.map((s) => encodeURIComponent(s)) },
        { weight: 1, arbitrary: fc.constant('src_00000000000000000000000000') },
      ),
      id: fc.oneof(fc.uuid(), printable),
    })
    .map(({ body: raw, contentType: type, ce, signing, sourceId, id }) => {
      const text = typeof raw === 'string' ? raw : Buffer.from(raw).toString('latin1');
      const headers: Record<string, string> = { ...(type ? { 'content-type': type } : {}), ...(ce ?? {}) };
      const webhookId = id.replace(/[^\x21-\x7e]/g, '') || 'msg';
      if (signing === 'valid' && typeof raw === 'string') Object.assign(headers, signatureHeaders(source.secret, webhookId, raw));
      if (signing === 'stale' && typeof raw === 'string') Object.assign(headers, signatureHeaders(source.secret, webhookId, raw, Date.now() - 3_600_000));
      if (signing === 'wrong-secret') Object.assign(headers, signatureHeaders('whsec_' + Buffer.from('not the secret').toString('base64'), webhookId, text));
      if (signing === 'garbage') Object.assign(headers, { 'webhook-id': webhookId, 'webhook-timestamp': 'soon', 'webhook-signature': 'v1,AAAA v2,b v1a,%%%' });
      return { method: 'POST', path: `/v1/ingest/${sourceId}`, headers, body: raw, label: `ingest ${signing} ${type || '(no type)'}` };
    });
}

interface Route {
  method: string;
  template: string;
}

function managementRequests(routes: Route[], ids: Record<string, string[]>, tokens: Record<string, string>): fc.Arbitrary<FuzzRequest> {
  const param = (name: string) =>
    fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom(...(ids[name] ?? ['x'])) },
      { weight: 1, arbitrary: fc.oneof(printable, unicode).map((s) => encodeURIComponent(s) || '%20') },
    );
  const query = fc.dictionary(
    fc.constantFrom('cursor', 'limit', 'type', 'subject', 'after', 'before', 'event_id', 'status', 'subscription_id', 'window', 'correlation_id', 'since'),
    fc.oneof(printable, unicode, fc.integer().map(String)),
    { maxKeys: 4 },
  );
  const jsonBody = fc.oneof(
    { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 7 }).map((v) => JSON.stringify(v)) },
    {
      weight: 4,
      arbitrary: fc
        .record(
          {
            name: attribute,
            types: fc.array(fc.oneof(printable, fc.constantFrom('**', 'orders.*', '*.a', 'a..b')), { maxLength: 5 }),
            where: fc.jsonValue({ maxDepth: 6 }),
            action: fc.oneof(fc.record({ type: fc.constantFrom('webhook', 'slack', 'script', 'nope'), config: fc.jsonValue({ maxDepth: 4 }) }), attribute),
            ordering: attribute,
            retry_schedule: fc.array(fc.oneof(fc.integer(), fc.double()), { maxLength: 25 }),
            schema: fc.jsonValue({ maxDepth: 6 }),
            type: fc.constantFrom('json-schema', 'redact', 'set-attributes', 'script', 'hmac', 'x'),
            config: fc.jsonValue({ maxDepth: 5 }),
            event_types: fc.array(printable, { maxLength: 3 }),
            rate_limits: fc.jsonValue({ maxDepth: 3 }),
            ttl_seconds: attribute,
            scopes: fc.array(printable, { maxLength: 3 }),
          },
          { requiredKeys: [] },
        )
        .map((v) => JSON.stringify(v)),
    },
    { weight: 1, arbitrary: deep },
    { weight: 1, arbitrary: unicode },
  );
  return fc
    .record({
      route: fc.constantFrom(...routes),
      body: jsonBody,
      query,
      auth: fc.constantFrom('admin', 'admin', 'admin', 'admin', 'tenant', 'none', 'garbage', 'alg-none'),
      type: fc.constantFrom('application/json', 'application/json', 'text/plain', ''),
    })
    .chain(({ route, ...rest }) => {
      const names = [...route.template.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
      return (names.length ? fc.tuple(...names.map(param)) : fc.constant([] as string[])).map((values) => {
        let path = route.template;
        for (const [i, name] of names.entries()) path = path.replace(`{${name}}`, values[i]!);
        const qs = new URLSearchParams(rest.query).toString();
        const headers: Record<string, string> = rest.type ? { 'content-type': rest.type } : {};
        if (rest.auth !== 'none') headers.authorization = `Bearer ${tokens[rest.auth] ?? 'x'}`;
        const withBody = !['GET', 'DELETE'].includes(route.method);
        return {
          method: route.method,
          path: qs ? `${path}?${qs}` : path,
          headers,
          body: withBody ? rest.body : undefined,
          label: `${route.method} ${route.template} (${rest.auth})`,
        };
      });
    });
}

export async function fuzz(env: FaultEnv): Promise<ScenarioOutcome> {
  const lines: string[] = [];
  const problems: string[] = [];
  const seed = Number(process.env.FAULTS_SEED ?? Date.now() % 1_000_000);
  const runs = Number(process.env.FAULTS_FUZZ_RUNS ?? 800);
  const { runtime, api, logs } = await launch(env, { stateDir: join(env.work, 'state-fuzz') });
  try {
    const source = await createSource(api, 'faults fuzz', { shards: FAULT_SHARDS });
    const other = await createSource(api, 'faults fuzz other', { shards: FAULT_SHARDS });
    const tenantToken = (await api.must<{ token: string }>('POST', `/v1/tenants/${other.tenantId}/tokens`, {}).catch(() => ({ token: 'none' }))).token;
    await api.call('PUT', `/v1/tenants/${source.tenantId}/event-types/orders.created`, {
      schema: { type: 'object', required: ['amount'], properties: { amount: { type: 'number' } } },
    });
    const sub = await api.call<{ id?: string }>('POST', `/v1/tenants/${source.tenantId}/subscriptions`, {
      types: ['**'],
      action: { type: 'webhook', config: { url: `${env.receiver.url}/fuzz` } },
    });
    // warm the isolate's source cache first, so the fuzz judges inputs, not the cold-cache race (see the bench report)
    await send(runtime.url, signedIngest(source, [makeEvent(`fuzz-warm-${seed}`, 0)], 'single'));
    const openapi = await api.must<{ paths: Record<string, Record<string, unknown>> }>('GET', '/openapi.json');
    const routes: Route[] = Object.entries(openapi.paths).flatMap(([template, ops]) =>
      Object.keys(ops)
        .filter((m) => /^(get|post|put|patch|delete)$/.test(m))
        .map((m) => ({ method: m.toUpperCase(), template })),
    );
    const managed = routes.filter((r) => !r.template.startsWith('/v1/ingest'));
    lines.push(`seed ${seed}, ${runs} requests; ${managed.length} management routes from /openapi.json plus ingest`);
    const ids = {
      tenantId: [source.tenantId, other.tenantId, 'tn_00000000000000000000000000'],
      sourceId: [source.sourceId, 'src_00000000000000000000000000'],
      subscriptionId: [sub.json.id ?? 'sub_x', 'sub_00000000000000000000000000'],
      type: ['orders.created', 'a.b'],
      eventId: ['evt_00000000000000000000000000'],
      deliveryId: ['dlv_00000000000000000000000000'],
      pluginId: ['plg_00000000000000000000000000'],
      replayId: ['rpl_00000000000000000000000000'],
    };
    const tokens = {
      admin: api.token,
      tenant: tenantToken,
      garbage: 'eyJhbGciOiJIUzI1NiJ9.e30.AAAA',
      'alg-none': `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"scope":"admin"}').toString('base64url')}.`,
    };
    const arbitrary = fc.oneof({ weight: 3, arbitrary: ingestRequests(source) }, { weight: 2, arbitrary: managementRequests(managed, ids, tokens) });
    const samples = fc.sample(arbitrary, { numRuns: runs, seed });

    const statuses: Record<string, number> = {};
    const failures: string[] = [];
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < samples.length; i = next++) {
        const request = samples[i]!;
        let status: number;
        try {
          const response = await fetch(`${runtime.url}${request.path}`, {
            method: request.method,
            headers: request.headers,
            body: request.body as string | Uint8Array<ArrayBuffer> | undefined,
            signal: AbortSignal.timeout(20_000),
          });
          await response.arrayBuffer();
          status = response.status;
        } catch (error) {
          status = 0;
          failures.push(`#${i} ${request.label}: no answer (${String((error as Error).cause ?? error).slice(0, 120)})`);
        }
        statuses[status] = (statuses[status] ?? 0) + 1;
        if (status >= 500) failures.push(`#${i} ${request.label} -> ${status}: ${request.method} ${request.path.slice(0, 120)} ${describeBody(request.body)}`);
      }
    };
    await Promise.all(Array.from({ length: 4 }, worker));
    lines.push(`answers: ${JSON.stringify(statuses)}`);
    problems.push(...failures.slice(0, 15));
    if (failures.length > 15) problems.push(`… and ${failures.length - 15} more`);

    const health = await fetch(`${runtime.url}/healthz`)
      .then((r) => r.status)
      .catch(() => 0);
    if (health !== 200) problems.push(`the runtime stopped answering /healthz after the fuzz (${health})`);
    const crashes = logs.filter((l) => /uncaught|unhandled error|internal error; reference/i.test(l));
    lines.push(`runtime healthy afterwards: ${health === 200}; ${crashes.length} unhandled errors in the Worker log`);
    if (crashes.length) problems.push(...crashes.slice(0, 5).map((l) => `worker log: ${l.slice(0, 400)}`));
  } finally {
    await runtime.stop();
  }
  return { pass: problems.length === 0, lines, problems };
}

function describeBody(body: string | Uint8Array | undefined): string {
  if (body === undefined) return '(no body)';
  if (typeof body !== 'string') return `(${body.length} raw bytes)`;
  return body.length > 200 ? `(${body.length} chars: ${JSON.stringify(body.slice(0, 120))}…)` : JSON.stringify(body);
}
