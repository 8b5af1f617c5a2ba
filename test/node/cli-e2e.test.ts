/**
 * The `switchyard` CLI end to end, as a child process against a real runtime (test-runtime.ts): the
 * live stream (`tail`, `listen`, across a runtime crash), signed ingest (`send --file`, `trigger`),
 * `types pull` checked by tsc, and the management commands' `--json` output.
 * Figures (events/s of `send --file`, 202 → `listen` line latency) are printed with the prefix [cli-e2e].
 */
import { spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Validator } from '@cfworker/json-schema';
import { afterAll, describe, expect, it } from 'vitest';
import { root } from '../../scripts/lib/demo.ts';
import { runCli, startCli } from './cli-harness.ts';
import { cloudEvent, createTenantAndSource, ingest, startTestRuntime, type Source, type TestRuntime } from './test-runtime.ts';

let starting: Promise<TestRuntime> | undefined;
// started by the first test that needs it, not in a hook: a hook's failure would read as skipped tests
const runtime = () => (starting ??= startTestRuntime('switchyard-cli'));
afterAll(async () => (await starting?.catch(() => undefined))?.close(), 60_000);

const ingestArgs = (s: Source) => ['--tenant', s.tenantId, '--source', s.sourceId, '--secret', s.secret];
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';

async function until<T>(read: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await sleep(200);
  }
}

const percentile = (values: number[], p: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((values.length * p) / 100))]!;

describe('switchyard against a real runtime', () => {
  it('tail --json prints an event sent after it started', { timeout: 400_000 }, async () => {
    const t = await runtime();
    const s = await createTenantAndSource(t, 'tail');
    const tail = startCli(['tail', '--tenant', s.tenantId, '--json'], t.env);
    try {
      await tail.waitForLine((l) => l.startsWith('Ready'), 60_000, 'stderr');
      const sent = await runCli(['send', ...ingestArgs(s).slice(2), '--type', 'orders.created', '--data', '{"amount":3}', '--subject', 'c/1', '--json'], t.env);
      expect(sent.status, sent.stderr).toBe(0);
      const accepted = JSON.parse(sent.stdout) as { id: string; sequence: number; ce_id: string };
      const line = await tail.waitForLine((l) => l.includes(accepted.id));
      expect(JSON.parse(line)).toMatchObject({
        id: accepted.id,
        ce_id: accepted.ce_id,
        sequence: accepted.sequence,
        type: 'orders.created',
        subject: 'c/1',
        data: { amount: 3 },
      });
    } finally {
      expect(await tail.interrupt()).toBe(0);
    }
  });

  it('listen forwards signed deliveries with the webhook body and reports them as attempts', { timeout: 300_000 }, async () => {
    const t = await runtime();
    const s = await createTenantAndSource(t, 'listen');
    const hookPath = `/webhook-${s.tenantId}`;
    const localPath = `/local-${s.tenantId}`;
    // a real webhook subscription gets the same events: the forwards must look like its deliveries
    const sub = await t.api<{ secret: string }>('POST', `/v1/tenants/${s.tenantId}/subscriptions`, {
      types: ['orders.*'],
      action: { type: 'webhook', config: { url: `${t.receiver.url}${hookPath}` } },
    });
    expect(sub.status).toBe(201);
    t.receiver.setBehaviour(hookPath, { secret: sub.json.secret });

    const listen = startCli(['listen', '--tenant', s.tenantId, '--forward-to', `${t.receiver.url}${localPath}`, '--types', 'orders.*'], t.env);
    try {
      const ready = await listen.waitForLine((l) => l.startsWith('Ready'), 60_000);
      expect(ready).toContain(`from tenant ${s.tenantId} to ${t.receiver.url}${localPath}`);
      const listenerId = /\(listener (\S+), secret (whsec_\S+)\)/.exec(ready)![1]!;
      const secret = /secret (whsec_[^\s),]+)/.exec(ready)![1]!;
      t.receiver.setBehaviour(localPath, { secret });

      const latencies: number[] = [];
      const acceptedAt = new Map<string, number>();
      const ids: string[] = [];
      for (let n = 1; n <= 10; n++) {
        // not matched by --types: strictly in order, so it would be forwarded before the last one
        if (n === 10) expect((await ingest(s, cloudEvent('users.created', { n: 0 }))).status).toBe(202);
        const answer = await ingest(s, cloudEvent('orders.created', { n }, { traceparent: `00-${TRACE}-00f067aa0ba902b7-01`, partitionkey: 'p1' }));
        const at = performance.now();
        acceptedAt.set(answer.json.id, Date.now());
        expect(answer.status).toBe(202);
        ids.push(answer.json.id);
        const line = await listen.waitForLine((l) => l.includes(answer.json.id));
        expect(line).toMatch(new RegExp(`^\\d\\d:\\d\\d:\\d\\d  orders\\.created  ${answer.json.id}  → 200 \\(\\d+ ms\\)$`));
        latencies.push(listen.lines.find((l) => l.text === line)!.at - at);
      }

      const local = await t.receiver.waitFor(localPath, 10);
      const hooks = await t.receiver.waitFor(hookPath, 10, 60_000);
      const forwardLatencies = local.map((r) => r.at - acceptedAt.get(r.headers['webhook-id']!)!);
      console.log(
        `[cli-e2e] stream latency, 202 → forward received by the local server: p50 ${percentile(forwardLatencies, 50)} ms, max ${Math.max(...forwardLatencies)} ms; ` +
          `202 → listen's printed line (forwarded and reported): p50 ${percentile(latencies, 50).toFixed(0)} ms, max ${Math.max(...latencies).toFixed(0)} ms (${latencies.length} events)`,
      );
      expect(local.map((r) => r.verified)).toEqual(Array(10).fill(true));
      for (const forward of local) {
        const body = JSON.parse(forward.body) as { id: string };
        const delivered = hooks.find((h) => (JSON.parse(h.body) as { id: string }).id === body.id)!;
        expect(forward.body).toBe(delivered.body);
        for (const header of ['content-type', 'user-agent']) expect(forward.headers[header]).toBe(delivered.headers[header]);
        expect(forward.headers.traceparent).toMatch(new RegExp(`^00-${TRACE}-[0-9a-f]{16}-01$`));
        expect(forward.headers.traceparent).not.toBe(`00-${TRACE}-00f067aa0ba902b7-01`);
        expect(ids).toContain(forward.headers['webhook-id']);
      }

      // listen prints a line once the local server answered, and reports the attempt after it
      const deliveries = await until(async () => {
        const list = await t.api<{ data: { id: string; event_id: string; status: string; attempts: number }[] }>(
          'GET',
          `/v1/tenants/${s.tenantId}/deliveries?subscription_id=${listenerId}`,
        );
        return list.json.data.length >= ids.length ? list : undefined;
      });
      expect(deliveries.json.data.map((d) => d.event_id).sort()).toEqual([...ids].sort());
      expect(deliveries.json.data.every((d) => d.status === 'delivered' && d.attempts === 1)).toBe(true);
      const one = await t.api<{ attempt_log: { status_code: number; latency_ms: number }[] }>(
        'GET',
        `/v1/tenants/${s.tenantId}/deliveries/${deliveries.json.data[0]!.id}`,
      );
      expect(one.json.attempt_log).toEqual([expect.objectContaining({ status_code: 200 })]);
    } finally {
      expect(await listen.interrupt()).toBe(0);
    }
  });

  it('listen loses and repeats nothing when the runtime is killed and restarted mid-stream', { timeout: 400_000 }, async () => {
    const t = await runtime();
    const s = await createTenantAndSource(t, 'restart');
    const path = `/ordered-${s.tenantId}`;
    t.receiver.setBehaviour(path, { default: { status: 200, delayMs: 40 } });
    const listen = startCli(['listen', '--tenant', s.tenantId, '--forward-to', `${t.receiver.url}${path}`, '--name', 'restart'], t.env);
    try {
      await listen.waitForLine((l) => l.startsWith('Ready'), 60_000);
      const first = Array.from({ length: 40 }, (_, i) => cloudEvent('orders.created', { n: i + 1 }));
      expect((await ingest(s, first)).status).toBe(202);
      await t.receiver.waitFor(path, 8, 60_000);
      await t.restart();
      const second = Array.from({ length: 20 }, (_, i) => cloudEvent('orders.created', { n: i + 41 }));
      expect((await ingest(s, second)).status).toBe(202);
      await t.receiver.waitFor(path, 60, 180_000);
      await listen.waitForLine((l) => l.includes(`→ 200`) && listen.lines.filter((x) => x.text.includes('→ 200')).length >= 60, 60_000);
      await sleep(2_000); // a repeat would arrive now
      const seen = t.receiver.received.filter((r) => r.path === path).map((r) => (JSON.parse(r.body) as { data: { n: number } }).data.n);
      expect(seen).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
      expect(listen.stderr.some((l) => l.includes('connection lost'))).toBe(true);
    } finally {
      expect(await listen.interrupt()).toBe(0);
    }
    // a new listen of the same name resumes after the last reported event
    const again = await t.api<{ last_sequence: number }>('POST', `/v1/tenants/${s.tenantId}/listeners`, { name: 'restart' });
    expect(again.json.last_sequence).toBe(60);
  });

  it('send --file acknowledges 1,000 events in batches, and a resend is all duplicates', { timeout: 300_000 }, async () => {
    const t = await runtime();
    const s = await createTenantAndSource(t, 'bulk');
    const file = join(t.work, 'bulk.ndjson');
    await writeFile(file, `${Array.from({ length: 1000 }, (_, i) => JSON.stringify({ n: i + 1 })).join('\n')}\n`);
    const args = ['send', '--source', s.sourceId, '--secret', s.secret, '--type', 'bulk.item', '--file', file, '--id', 'bulk'];
    const run = await runCli([...args, '--json'], t.env);
    expect(run.status, run.stderr).toBe(0);
    const summary = JSON.parse(run.stdout) as {
      events: number;
      requests: number;
      accepted: number;
      duplicates: number;
      rejected: number;
      events_per_second: number;
    };
    expect(summary).toMatchObject({ events: 1000, requests: 2, accepted: 1000, duplicates: 0, rejected: 0 });
    console.log(`[cli-e2e] send --file: 1,000 events in ${summary.requests} batch requests, ${summary.events_per_second} events/s`);

    const again = await runCli(args, t.env);
    expect(again.status).toBe(0);
    expect(again.stdout).toMatch(/^Sent 1000 events in 2 requests: 1000 accepted \(1000 duplicates\), 0 rejected, 0 dropped in [\d.]+ s \(\d+ events\/s\)$/m);

    const mixed = join(t.work, 'mixed.ndjson');
    await writeFile(
      mixed,
      [JSON.stringify(cloudEvent('bulk.whole', { ok: true })), '', JSON.stringify({ ...cloudEvent('bulk.whole', {}), specversion: '0.3' })].join('\n'),
    );
    const partly = await runCli(['send', '--source', s.sourceId, '--secret', s.secret, '--file', mixed], t.env);
    expect(partly.status).toBe(1);
    expect(partly.stdout).toContain('Sent 2 events in 1 requests: 1 accepted (0 duplicates), 1 rejected');
    expect(partly.stderr).toMatch(/^line 3: error: /m);

    const count = await until(async () => {
      let total = 0;
      let cursor: string | null = '';
      do {
        const page: { json: { data: unknown[]; next_cursor: string | null } } = await t.api(
          'GET',
          `/v1/tenants/${s.tenantId}/events?type=bulk.item&limit=500${cursor ? `&cursor=${cursor}` : ''}`,
        );
        total += page.json.data.length;
        cursor = page.json.next_cursor;
      } while (cursor);
      return total === 1000 ? total : undefined;
    }, 60_000);
    expect(count).toBe(1000);
  });

  it('trigger sends a schema-valid example: generated, or examples[0] with --set overrides, and refuses an invalid one', { timeout: 300_000 }, async () => {
    const t = await runtime();
    const s = await createTenantAndSource(t, 'trigger');
    const signup = {
      type: 'object',
      required: ['email', 'plan', 'seats'],
      additionalProperties: false,
      properties: {
        email: { type: 'string', format: 'email' },
        plan: { enum: ['free', 'pro'] },
        seats: { type: 'integer', minimum: 1, maximum: 50 },
        tags: { type: 'array', items: { type: 'string', pattern: '^[a-z]{2,8}$' }, maxItems: 3 },
      },
    };
    const orders = {
      type: 'object',
      required: ['amount', 'currency'],
      additionalProperties: false,
      properties: { amount: { type: 'number', minimum: 0 }, currency: { enum: ['EUR', 'USD'] }, note: { type: 'string' } },
      examples: [{ amount: 42, currency: 'EUR' }],
    };
    expect((await t.api('PUT', `/v1/tenants/${s.tenantId}/event-types/users.signed-up`, { schema: signup })).status).toBeLessThan(300);
    expect((await t.api('PUT', `/v1/tenants/${s.tenantId}/event-types/orders.created`, { schema: orders })).status).toBeLessThan(300);

    const generated = await runCli(['trigger', 'users.signed-up', ...ingestArgs(s), '--json'], t.env);
    expect(generated.status, generated.stderr).toBe(0);
    const out = JSON.parse(generated.stdout) as { id: string; from: string };
    expect(out.from).toBe('generated');
    const stored = await until(async () => {
      const r = await t.api<{ data: unknown }>('GET', `/v1/tenants/${s.tenantId}/events/${out.id}`);
      return r.status === 200 ? r.json : undefined;
    });
    expect(new Validator(signup as never, '2020-12').validate(stored.data).errors).toEqual([]);

    const example = await runCli(['trigger', 'orders.created', ...ingestArgs(s), '--set', 'amount=7', '--set', 'note=rush', '--json'], t.env);
    expect(example.status, example.stderr).toBe(0);
    expect(JSON.parse(example.stdout)).toMatchObject({ from: 'examples', data: { amount: 7, currency: 'EUR', note: 'rush' } });

    const invalid = await runCli(['trigger', 'orders.created', ...ingestArgs(s), '--set', 'amount=-1'], t.env);
    expect(invalid.status).toBe(1);
    expect(invalid.stderr).toContain('does not match the schema of orders.created');
    expect(invalid.stderr).toContain('/amount');

    const unknown = await runCli(['trigger', 'nope.never', ...ingestArgs(s)], t.env);
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toMatch(/^error: .*\(\w+\)/m);
  });

  it('types pull writes TypeScript that tsc compiles with createProducer<Events>() and that rejects a wrong payload', { timeout: 300_000 }, async () => {
    const t = await runtime();
    const s = await createTenantAndSource(t, 'types');
    const schema = {
      type: 'object',
      required: ['amount'],
      properties: { amount: { type: 'number' }, customer: { $ref: '#/$defs/customer' } },
      $defs: { customer: { type: 'object', required: ['name'], properties: { name: { type: 'string' } } } },
    };
    await t.api('PUT', `/v1/tenants/${s.tenantId}/event-types/orders.created`, { schema });
    await t.api('PUT', `/v1/tenants/${s.tenantId}/event-types/users.signed-up`, {
      schema: { type: 'object', properties: { email: { type: 'string' } }, required: ['email'] },
    });
    const dir = join(t.work, 'types');
    const pulled = await runCli(['types', 'pull', '--tenant', s.tenantId, '--out', join(dir, 'events.ts'), '--json'], t.env);
    expect(pulled.status, pulled.stderr).toBe(0);
    expect(JSON.parse(pulled.stdout).types.map((x: { name: string }) => x.name)).toEqual(['OrdersCreatedData', 'UsersSignedUpData']);

    const tsconfig = {
      compilerOptions: {
        target: 'es2024',
        lib: ['es2024', 'dom'],
        module: 'nodenext',
        moduleResolution: 'nodenext',
        strict: true,
        noEmit: true,
        skipLibCheck: true,
        allowImportingTsExtensions: true,
        types: [],
        paths: { '@switchyard/client': [join(root, 'packages/client/src/index.ts')] },
      },
      files: ['usage.ts'],
    };
    const usage = (expectError: boolean) => `import { createProducer } from '@switchyard/client';
import type { Events, OrdersCreatedData } from './events.ts';
const producer = createProducer<Events>({ ingestUrl: 'http://127.0.0.1:1/v1/ingest/src_1', secret: 'whsec_MDEyMzQ1Njc4OWFiY2RlZg==' });
const order: OrdersCreatedData = { amount: 1, customer: { name: 'Ada' } };
export const sends = [
  producer.send({ type: 'orders.created', data: order }),
  producer.send({ type: 'users.signed-up', data: { email: 'ada@example.com' } }),
  ${expectError ? '// @ts-expect-error amount must be a number\n  ' : ''}producer.send({ type: 'orders.created', data: { amount: 'one' } }),
  ${expectError ? '// @ts-expect-error not a registered event type\n  ' : ''}producer.send({ type: 'orders.deleted', data: { amount: 1 } }),
];
`;
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'tsconfig.json'), JSON.stringify(tsconfig));
    const tsc = () => spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', dir], { encoding: 'utf8' });
    await writeFile(join(dir, 'usage.ts'), usage(true));
    const good = tsc();
    expect(good.status, good.stdout + good.stderr).toBe(0);
    await writeFile(join(dir, 'usage.ts'), usage(false));
    const bad = tsc();
    expect(bad.status).not.toBe(0);
    expect(bad.stdout).toMatch(/usage\.ts\(8,/);
    expect(bad.stdout).toMatch(/usage\.ts\(9,/);
  });

  it('manages tenants, sources, subscriptions, events, deliveries and replays, with --json output that parses', { timeout: 300_000 }, async () => {
    const t = await runtime();
    const json = async (args: string[]) => {
      const run = await runCli([...args, '--json'], t.env);
      expect(run.status, `${args.join(' ')}: ${run.stderr}`).toBe(0);
      return JSON.parse(run.stdout);
    };
    const login = await runCli(['login', '--url', t.runtime.url, '--token', t.token], { ...t.env, SWITCHYARD_URL: undefined, SWITCHYARD_TOKEN: undefined });
    expect(login.status, login.stderr).toBe(0);
    const refused = await runCli(['login', '--url', t.runtime.url, '--token', `${t.token.slice(0, -4)}AAAA`], { XDG_CONFIG_HOME: join(t.work, 'other') });
    expect(refused.status).toBe(3);

    const tenant = await json(['tenants', 'create', 'managed']);
    expect(tenant.id).toMatch(/^tn_/);
    expect((await json(['tenants', 'list', '--name', 'managed'])).data.map((x: { id: string }) => x.id)).toContain(tenant.id);
    const source = await json(['sources', 'create', 'billing', '--tenant', tenant.id]);
    expect(source.secret).toMatch(/^whsec_/);
    const rotated = await json(['sources', 'rotate', source.id, '--tenant', tenant.id, '--grace-seconds', '0']);
    expect(rotated.secret).toMatch(/^whsec_/);
    expect(rotated.secret).not.toBe(source.secret);

    const sub = await json([
      'subscriptions',
      'create',
      '--tenant',
      tenant.id,
      '--types',
      'orders.*',
      '--url',
      `${t.receiver.url}/managed`,
      '--where',
      '{"data.amount":{"$gt":1}}',
    ]);
    expect(sub).toMatchObject({ types: ['orders.*'], enabled: true, where: { 'data.amount': { $gt: 1 } } });
    expect((await json(['subscriptions', 'pause', sub.id, '--tenant', tenant.id])).enabled).toBe(false);
    expect((await json(['subscriptions', 'resume', sub.id, '--tenant', tenant.id])).enabled).toBe(true);

    const sent = await json(['send', '--source', source.id, '--secret', rotated.secret, '--type', 'orders.created', '--data', '{"amount":5}']);
    const listener = await t.api<{ id: string }>('POST', `/v1/tenants/${tenant.id}/listeners`, {});
    const subs = await json(['subscriptions', 'list', '--tenant', tenant.id]);
    expect(subs.data).toEqual(expect.arrayContaining([expect.objectContaining({ id: listener.json.id, action: expect.objectContaining({ type: 'cli' }) })]));

    const events = await until(async () => {
      const page = await json(['events', 'list', '--tenant', tenant.id]);
      return page.data.length === 1 ? page : undefined;
    });
    expect(events.data[0]).toMatchObject({ id: sent.id, type: 'orders.created' });
    expect(await json(['events', 'get', sent.id, '--tenant', tenant.id])).toMatchObject({ id: sent.id, data: { amount: 5 } });

    const delivery = await until(async () => {
      const page = await json(['deliveries', 'list', '--tenant', tenant.id, '--event-id', sent.id]);
      return page.data[0]?.status === 'delivered' ? page.data[0] : undefined;
    }, 60_000);
    const detail = await json(['deliveries', 'get', delivery.id, '--tenant', tenant.id]);
    expect(detail.attempt_log.length).toBeGreaterThan(0);
    expect(await json(['deliveries', 'retry', delivery.id, '--tenant', tenant.id])).toMatchObject({ id: delivery.id, status: 'pending' });
    const replay = await json(['replay', '--tenant', tenant.id, '--subscription-id', sub.id, '--types', 'orders.*']);
    expect(replay.id).toBeTruthy();
  });
});
