/**
 * The console in a real browser: the bundle `wrangler deploy` would upload (its build command builds the
 * console with Vite), served with its static assets under workerd (scripts/lib/runtime.ts) on a scratch
 * Postgres database, driven in headless Chromium (Debian's `chromium`, playwright-core). Each journey
 * asserts what a person sees; axe-core checks every main screen for serious or critical accessibility
 * violations, and a screenshot of each lands in test/artifacts/ (git-ignored) to be looked at.
 *
 * Without Chromium a local run skips this file with a message; CI (CI=true, `.ci/run` installs it) fails.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { createManagementClient, type ManagementClient } from '../../packages/client/src/index.ts';
import { root } from '../../scripts/lib/demo.ts';
import { adminToken } from '../../scripts/lib/dev-vars.ts';
import { routeThroughLocalProxy } from '../../scripts/lib/postgres.ts';
import { bundleWorker, startRuntime, type Runtime } from '../../scripts/lib/runtime.ts';
import { scratchDatabase } from '../../scripts/lib/scratch-db.ts';
import { makeEvent, send, signedIngest } from '../../scripts/lib/switchyard-api.ts';
import { startWsProxy } from '../../scripts/lib/ws-proxy.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const ARTIFACTS = join(root, 'test/artifacts');
const hasChromium = existsSync(CHROMIUM);
const skip = !hasChromium && !process.env.CI;
if (skip)
  console.warn(
    `[console] SKIPPED: no Chromium at ${CHROMIUM}, so the console is not checked in a browser (apt-get install -y chromium, or set CHROMIUM_PATH; CI fails instead)`,
  );

/** A webhook endpoint the test controls: 200 `ok`, or, while `failing`, 500 with a JSON body. */
interface Receiver {
  url: string;
  failing: boolean;
  received: { path: string; body: string; signature: string }[];
  server: Server;
}

interface World {
  origin: string;
  browser: Browser;
  api: ManagementClient;
  adminSecret: string;
  admin: string;
  receiver: Receiver;
  runtime: Runtime;
}

const cleanups: (() => Promise<unknown>)[] = [];
let started: Promise<World> | undefined;

/** Started by the first test that needs it, not in a hook: a hook's failure would count as a skip. */
function world(): Promise<World> {
  started ??= (async () => {
    if (!hasChromium) throw new Error(`CI needs Chromium at ${CHROMIUM} (.ci/run installs Debian's chromium), and it is missing`);
    const workdir = await mkdtemp(join(tmpdir(), 'switchyard-console-'));
    cleanups.push(() => rm(workdir, { recursive: true, force: true }));
    // runs wrangler.toml's [build] command, which builds the console into public/console/
    const bundle = await bundleWorker(join(workdir, 'bundle'));
    const wsProxy = await startWsProxy();
    cleanups.push(() => wsProxy.close());
    routeThroughLocalProxy(wsProxy.endpoint);
    const database = await scratchDatabase('switchyard_console');
    cleanups.push(() => database.stop());
    const receiver = await startReceiver();
    cleanups.push(() => new Promise((resolve) => receiver.server.close(resolve)));
    const adminSecret = randomBytes(32).toString('base64url');
    const runtime = await startRuntime({
      kind: 'bundle',
      script: bundle.script,
      assets: true,
      persistDir: join(workdir, 'state'),
      bindings: {
        ADMIN_JWT_SECRET: adminSecret,
        ENCRYPTION_KEY: randomBytes(32).toString('base64'),
        DATABASE_URL: database.url,
        NEON_WS_PROXY: wsProxy.endpoint,
        EGRESS_ALLOWLIST: new URL(receiver.url).host,
      },
    });
    cleanups.push(() => runtime.stop());
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    cleanups.push(() => browser.close());
    const admin = await adminToken(adminSecret, '1h');
    await mkdir(ARTIFACTS, { recursive: true });
    return { origin: runtime.url, browser, api: createManagementClient({ baseUrl: runtime.url, token: admin }), adminSecret, admin, receiver, runtime };
  })();
  return started;
}

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
}, 60_000);

function startReceiver(): Promise<Receiver> {
  const receiver = { failing: false, received: [] } as unknown as Receiver;
  receiver.server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      receiver.received.push({ path: request.url ?? '', body, signature: String(request.headers['webhook-signature']) });
      if (receiver.failing) {
        response.writeHead(500, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ error: 'orders database is down', retry: 'later' }));
      } else {
        response.writeHead(200, { 'content-type': 'text/plain' });
        response.end('ok');
      }
    });
  });
  return new Promise((resolve) =>
    receiver.server.listen(0, '127.0.0.1', () => {
      receiver.url = `http://127.0.0.1:${(receiver.server.address() as AddressInfo).port}`;
      resolve(receiver);
    }),
  );
}

/** The data of an openapi-fetch answer, or a failure naming the problem. */
function must<T>(answer: { data?: T; error?: unknown; response: Response }): T {
  if (answer.data === undefined) throw new Error(`${answer.response.status}: ${JSON.stringify(answer.error)}`);
  return answer.data;
}

/** A page that fails the test on any script error the console throws. */
async function openPage(browser: Browser): Promise<{ page: Page; problems: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1366, height: 900 } });
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  return { page, problems };
}

let axeSource: string | undefined;

/** axe-core in the page: no serious or critical violation on this screen. */
async function expectAccessible(page: Page, screen: string): Promise<void> {
  axeSource ??= await readFile(join(root, 'node_modules/axe-core/axe.min.js'), 'utf8');
  // evaluated through the DevTools protocol, which the page's Content-Security-Policy does not govern
  await page.evaluate(axeSource);
  const violations = (await page.evaluate(`(async () => {
    const result = await window.axe.run(document, { resultTypes: ['violations'] });
    return result.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => v.impact + ' ' + v.id + ': ' + v.help + ' @ ' + v.nodes.map((n) => n.target.join(' ')).join(', '));
  })()`)) as string[];
  expect(violations, `axe on ${screen}`).toEqual([]);
}

async function shot(page: Page, name: string): Promise<void> {
  // the sidebar is sticky: from the top, a full-page picture shows it where a person first sees it
  await page.evaluate('window.scrollTo(0, 0)');
  await page.screenshot({ path: join(ARTIFACTS, `console-${name}.png`), fullPage: true });
}

/** A screen the person can see, checked and photographed. */
async function screen(page: Page, name: string): Promise<void> {
  await page
    .getByRole('status')
    .filter({ hasText: /^Loading/ })
    .waitFor({ state: 'detached', timeout: 10_000 })
    .catch(() => {});
  await expectAccessible(page, name);
  await shot(page, name);
}

async function expiredToken(secret: string, claims: Record<string, unknown>): Promise<string> {
  const past = Math.floor(Date.now() / 1000) - 3600;
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt(past)
    .setExpirationTime(past + 60)
    .sign(new TextEncoder().encode(secret));
}

describe.skipIf(skip)('the console in headless Chromium', () => {
  it('takes a person from the sign-in link through a failing endpoint to a retried, delivered event', { timeout: 600_000 }, async () => {
    const { origin, browser, admin, receiver } = await world();
    const { page, problems } = await openPage(browser);

    // sign in with the link `npm run dev` prints: the token leaves the address bar for session storage
    await page.goto(`${origin}/console/#token=${admin}`);
    await visible(page.getByRole('heading', { name: 'Tenants' }));
    expect(page.url()).toBe(`${origin}/console/tenants`);
    expect(await page.evaluate(() => sessionStorage.getItem('switchyard.console.token'))).toBe(admin);

    // a tenant, from the admin screen
    await page.getByRole('button', { name: 'New tenant' }).click();
    await page.getByLabel('Name', { exact: true }).fill('Acme journey');
    await page.getByRole('button', { name: 'Create tenant' }).click();
    await visible(page.getByRole('heading', { name: 'Events' }));
    await visible(page.getByText('No events yet.'));
    const tenant = new URL(page.url()).pathname.split('/')[3]!;
    expect(tenant).toMatch(/^tn_/);
    await screen(page, 'events-empty');

    // a source: its secret is shown once, with a signed curl command
    await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Sources' }).click();
    await page.getByRole('button', { name: 'New source' }).click();
    await page.getByLabel('Name').fill('shop');
    await page.getByRole('button', { name: 'Create source' }).click();
    const sourceCard = page.getByRole('article', { name: 'Source shop' });
    await visible(sourceCard.getByText(/Signing secret/));
    await hasText(sourceCard.getByLabel('Signed curl command'), 'webhook-signature: v1,$sig');
    await screen(page, 'sources');

    // a subscription to the local receiver, two attempts a second apart
    await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Subscriptions' }).click();
    await visible(page.getByText(/No subscriptions yet/));
    await page.getByRole('link', { name: 'New subscription' }).click();
    await page.getByLabel('Name (optional)').fill('Order service');
    await page.getByLabel('Add a type or pattern').fill('orders.*');
    await page.getByLabel('Add a type or pattern').press('Enter');
    await hasText(page.getByRole('list', { name: 'Chosen types' }), 'orders.*');
    await page.getByLabel('Webhook URL').fill(`${receiver.url}/hook`);
    await page.getByLabel('Retry schedule (optional)').fill('0, 1');
    await screen(page, 'subscription-new');
    await page.getByRole('button', { name: 'Create subscription' }).click();
    await visible(page.getByRole('heading', { name: 'Subscription created' }));
    await visible(page.getByText(/^whsec_/));
    await page.getByRole('link', { name: 'Open the subscription' }).click();
    await visible(page.getByRole('heading', { name: 'Order service' }));

    // a test event through the source, signed in the browser: it reaches the receiver
    await page.getByRole('button', { name: 'Send test event' }).click();
    await hasValue(page.getByLabel('Type'), 'orders.test');
    await page.getByRole('button', { name: 'Send', exact: true }).click();
    await visible(page.getByText(/Accepted as event #1/));
    await expect.poll(() => receiver.received.length, { timeout: 60_000 }).toBe(1);
    expect(JSON.parse(receiver.received[0]!.body)).toMatchObject({ type: 'orders.test', data: { hello: 'from the Switchyard console' } });

    // the event, its sequence and payload, and its delivery with the attempt
    await page.getByRole('form', { name: 'Send test event' }).getByRole('link', { name: '#1' }).click();
    await visible(page.getByRole('heading', { name: 'orders.test' }));
    await hasText(page.getByLabel('CloudEvent JSON'), '"from the Switchyard console"');
    await refreshUntil(page, page.locator('table .badge-delivered'));
    await screen(page, 'event-detail');
    await page.getByRole('table').getByRole('link', { name: /^dlv_/ }).click();
    await visible(page.getByText('Attempt 1'));
    await hasText(page.locator('.attempt').first(), 'HTTP 200');
    await visible(page.getByRole('button', { name: 'Retry' }));
    await screen(page, 'delivery-delivered');

    // the endpoint breaks: both attempts fail, and the person sees why
    receiver.failing = true;
    // (a tab that never saw the source's secret: one click rotates it and signs with the new one)
    await page.evaluate(() => sessionStorage.removeItem('switchyard.console.source-secrets'));
    await page.locator('.facts').getByRole('link', { name: /^sub_/ }).click();
    await page.getByRole('button', { name: 'Send test event' }).click();
    await visible(page.getByLabel("The source's signing secret"));
    await page.getByRole('button', { name: "Rotate the source's secret and use the new one" }).click();
    await visible(page.getByText('Signed with the secret this tab saw when the source was created or rotated.'));
    await page.getByRole('button', { name: 'Send', exact: true }).click();
    await visible(page.getByText(/Accepted as event #2/));
    await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Deliveries' }).click();
    const second = page.getByRole('row').filter({ has: page.getByRole('link', { name: '#2' }) });
    await second.getByRole('link', { name: /^dlv_/ }).click();
    await visible(page.locator('.facts .badge-failed'), 30_000);
    await visible(page.getByText('Attempt 2'));
    const attempts = page.locator('.attempt');
    await hasCount(attempts, 2);
    for (const attempt of await attempts.all()) {
      await hasText(attempt, 'HTTP 500');
      await hasText(attempt.getByLabel(/Response body of attempt/), 'orders database is down');
    }
    // the request as sent: its body and the Standard Webhooks signature the receiver got
    const sent = receiver.received[1]!;
    await hasText(attempts.first().getByLabel('Request body of attempt 1'), `"${JSON.parse(sent.body).id}"`);
    await hasText(
      attempts
        .first()
        .getByRole('table', { name: 'Request headers of attempt 1' })
        .getByRole('row', { name: /webhook-signature/ }),
      sent.signature,
    );
    await screen(page, 'delivery-failed');

    // fixed: one click on Retry and the delivery goes through
    receiver.failing = false;
    await page.getByRole('button', { name: 'Retry' }).click();
    await visible(page.locator('.facts .badge-delivered'), 30_000);
    await hasCount(attempts, 3);
    await hasText(attempts.nth(2), 'HTTP 200');
    expect(receiver.received.length).toBe(4);

    // the lists and the subscription's health now tell the same story
    await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Deliveries' }).click();
    await hasCount(page.locator('table .badge-delivered'), 2);
    await screen(page, 'deliveries');
    await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Subscriptions' }).click();
    await visible(page.getByRole('link', { name: 'Order service' }));
    await screen(page, 'subscriptions');
    await page.getByRole('link', { name: 'Order service' }).click();
    await visible(page.getByText('Success rate'));
    // four attempts reached the endpoint: #1 delivered, #2 failed twice, then delivered on the retry
    await hasText(page.locator('.stat').filter({ hasText: 'Attempts delivered / failed' }), '2 / 2');
    await hasText(page.locator('.stat').filter({ hasText: 'Success rate' }), '50.0 %');
    await hasText(page.locator('.stat').filter({ hasText: 'Failures in a row' }), '0');
    await visible(page.getByRole('img', { name: 'Delivered and failed attempts per hour' }).locator('canvas'));
    await screen(page, 'subscription-detail');

    // the filter editor asks the server's matcher whether a stored event would pass
    await page.getByRole('button', { name: 'Edit' }).click();
    const filter = page.getByLabel(/^Filter/);
    await filter.fill('{ "data.hello": { "$startsWith": "from the" } }');
    await page.getByLabel('Try on').selectOption({ label: '#1 orders.test' });
    await page.getByRole('button', { name: 'Try filter' }).click();
    await hasText(page.getByRole('status').filter({ hasText: '#1 orders.test' }), 'matches: it would be delivered');
    await filter.fill('{ "data.hello": "someone else" }');
    await page.getByRole('button', { name: 'Try filter' }).click();
    await hasText(page.getByRole('status').filter({ hasText: '#1 orders.test' }), 'does not match');
    await screen(page, 'subscription-edit');
    await page.getByRole('button', { name: 'Cancel' }).click();

    // the events list, and live mode showing an event the moment it is ingested
    await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Events' }).click();
    // the two test events, and the system event that announced the exhausted delivery
    await hasCount(page.getByRole('table').getByRole('link', { name: 'orders.test' }), 2);
    await visible(page.getByRole('table').getByRole('link', { name: 'switchyard.delivery.exhausted' }));
    await page.getByRole('button', { name: 'Go live' }).click();
    const live = page.getByRole('region', { name: 'Live events' });
    await hasText(live.getByRole('status'), /streaming|checking every 2 s/);
    const secret = await page.evaluate(() => Object.values(JSON.parse(sessionStorage.getItem('switchyard.console.source-secrets') ?? '{}'))[0] as string);
    const sourceId = await page.evaluate(() => Object.keys(JSON.parse(sessionStorage.getItem('switchyard.console.source-secrets') ?? '{}'))[0] as string);
    const ingest = await send(origin, signedIngest({ tenantId: tenant, sourceId, secret }, [makeEvent('live-1', 1, { type: 'orders.shipped' })], 'single'));
    expect(ingest.status).toBe(202);
    await visible(live.getByRole('link', { name: 'orders.shipped' }), 30_000);
    await screen(page, 'events-live');

    // the remaining screens render their data
    await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Event types' }).click();
    await page.getByRole('button', { name: 'New event type' }).click();
    await page.getByLabel('Type', { exact: true }).fill('orders.created');
    await page.getByLabel(/^Sample/).fill('{"amount": -1}');
    await page.getByRole('button', { name: 'Validate sample' }).click();
    await visible(page.getByText('The sample is not valid:'));
    await page.getByLabel(/^Sample/).fill('{"amount": 12}');
    await page.getByRole('button', { name: 'Validate sample' }).click();
    await visible(page.getByText('The sample is valid.'));
    await page.getByRole('button', { name: 'Save version' }).click();
    await hasText(page.getByRole('region', { name: 'Versions of orders.created' }), 'v1');
    await screen(page, 'event-types');

    await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Plugins' }).click();
    await visible(page.getByRole('heading', { name: 'Catalog' }));
    await hasText(page.locator('.catalog'), 'standard-webhooks');
    await screen(page, 'plugins');
    // a script transformer configured from its config schema, then tried on a sample event
    await page.getByRole('button', { name: 'Add script-transformer' }).click();
    const create = page.getByRole('form', { name: 'New script-transformer instance' });
    await create.getByLabel(/^Name/).fill('tag-orders');
    await create.getByLabel(/^source/).fill('export function transform(event) { return { ...event, data: { ...event.data, tagged: true } }; }');
    await create.getByRole('button', { name: 'Register' }).click();
    await page.getByRole('button', { name: 'tag-orders' }).click();
    await page.getByRole('button', { name: 'Run against the sample' }).click();
    const verdict = page.getByRole('region', { name: 'Plugin tag-orders' }).getByRole('status');
    await hasText(verdict, 'pass');
    await hasText(verdict.getByLabel('Event after the plugin'), '"tagged": true');
    await screen(page, 'plugin-dry-run');

    await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Metrics' }).click();
    const accepted = page.locator('.stat').filter({ hasText: 'Events accepted' }).locator('.stat-value');
    await expect.poll(async () => Number(await accepted.textContent()), { timeout: 30_000 }).toBeGreaterThanOrEqual(3);
    // the headline latency is the whole wait from acceptance, told apart from the chart's per-attempt latency
    await visible(page.locator('.stat').filter({ hasText: 'Accepted → delivered p95' }));
    await visible(page.locator('.stat').filter({ hasText: 'Delivery success' }));
    await visible(page.getByText('Attempt latency p50 / p95 (ms): one HTTP exchange each'));
    // the metrics over time (GET …/metrics/series) drawn as a uPlot chart
    await visible(page.getByRole('img', { name: 'Events accepted per second' }).locator('canvas'), 30_000);
    await screen(page, 'metrics');

    await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Audit log' }).click();
    await visible(page.getByRole('cell', { name: 'subscription.created' }));
    await screen(page, 'audit-log');

    await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Tenants' }).click();
    await visible(page.getByRole('link', { name: 'Acme journey' }));
    await screen(page, 'tenants');

    // a shared deep link opens the same screen in a fresh tab of the session
    const deep = await browser.newPage();
    await deep.goto(`${origin}/console/#token=${admin}`);
    await visible(deep.getByRole('heading', { name: 'Tenants' }));
    await deep.goto(`${origin}/console/tenants/${tenant}/events?type=orders.shipped`);
    await hasCount(deep.getByRole('table').getByRole('row'), 2);
    await deep.close();

    // a replay of the last hour to the subscription, with its progress, sends the matching events again
    await page.getByRole('link', { name: 'Acme journey' }).click();
    await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Subscriptions' }).click();
    await page.getByRole('link', { name: 'Order service' }).click();
    const before = receiver.received.length;
    await page.getByRole('button', { name: 'Replay events' }).click();
    await page.getByRole('button', { name: 'Start replay' }).click();
    const progress = page.getByRole('form', { name: 'Replay events' }).getByRole('status');
    await hasText(progress, /completed.*events in the range, 3 deliveries created/s);
    await screen(page, 'replay');
    await expect.poll(() => receiver.received.length, { timeout: 60_000 }).toBe(before + 3);
    expect(problems).toEqual([]);
  });

  it('shows a clear session-expired screen when the link has expired', { timeout: 120_000 }, async () => {
    const { origin, browser, adminSecret } = await world();
    const { page, problems } = await openPage(browser);
    const token = await expiredToken(adminSecret, { scope: 'admin', sub: 'expired' });
    await page.goto(`${origin}/console/#token=${token}`);
    await visible(page.getByRole('heading', { name: 'Your session has expired' }));
    await visible(page.getByText(/Ask for a new link/));
    expect(page.url()).not.toContain('token=');
    await screen(page, 'expired');
    // a token the API refuses (signed with another key) ends the session the same clear way
    const forged = await adminToken('not-this-deployments-secret-0123456789', '1h');
    await page.goto(`${origin}/console/#token=${forged}`);
    await visible(page.getByRole('heading', { name: 'Your session has ended' }));
    expect(problems).toEqual([]);
    await page.close();
  });

  it('pauses and resumes a subscription, shows its breaker, and retries its failed deliveries in bulk', { timeout: 300_000 }, async () => {
    const { origin, browser, api, admin, receiver } = await world();
    const tenant = must(await api.POST('/v1/tenants', { body: { name: 'delivery controls' } }));
    const tenantId = tenant.id;
    const source = must(await api.POST('/v1/tenants/{tenantId}/sources', { params: { path: { tenantId } }, body: { name: 'billing' } }));
    const subscription = must(
      await api.POST('/v1/tenants/{tenantId}/subscriptions', {
        params: { path: { tenantId } },
        body: { name: 'Billing hooks', types: ['billing.*'], retry_schedule: [0], action: { type: 'webhook', config: { url: `${receiver.url}/controls` } } },
      }),
    );
    const path = { tenantId, subscriptionId: subscription.id };
    const hits = () => receiver.received.filter((r) => r.path === '/controls').length;
    // one attempt against a failing endpoint: a failed delivery to retry later
    receiver.failing = true;
    const sent = await send(
      origin,
      signedIngest({ tenantId, sourceId: source.id, secret: source.secret! }, [makeEvent('bill-1', 1, { type: 'billing.failed' })], 'single'),
    );
    expect(sent.status).toBe(202);
    const failed = async () =>
      must(
        await api.GET('/v1/tenants/{tenantId}/deliveries', { params: { path: { tenantId }, query: { status: 'failed', subscription_id: subscription.id } } }),
      ).data.length;
    await expect.poll(failed, { timeout: 60_000 }).toBe(1);
    receiver.failing = false;

    const { page, problems } = await openPage(browser);
    await page.goto(`${origin}/console/#token=${admin}`);
    await visible(page.getByRole('heading', { name: 'Tenants' }));
    await page.goto(`${origin}/console/tenants/${tenantId}/subscriptions/${subscription.id}`);
    await visible(page.getByRole('heading', { name: 'Billing hooks' }));
    await hasText(page.locator('.facts'), /closed\s+deliveries are attempted/);
    await page.getByRole('button', { name: 'Pause' }).click();
    await visible(page.getByText(/^Paused since/));
    expect(must(await api.GET('/v1/tenants/{tenantId}/subscriptions/{subscriptionId}', { params: { path } })).status).toBe('paused');
    await screen(page, 'subscription-paused');
    await page.getByRole('button', { name: 'Resume' }).click();
    await visible(page.getByRole('button', { name: 'Pause' }));
    expect(must(await api.GET('/v1/tenants/{tenantId}/subscriptions/{subscriptionId}', { params: { path } })).status).toBe('active');

    // the deliveries screen, filtered to the subscription: its filter carries over into the bulk retry
    await page.goto(`${origin}/console/tenants/${tenantId}/deliveries?status=failed&subscription_id=${subscription.id}`);
    await page.getByRole('button', { name: 'Retry deliveries…' }).click();
    await hasValue(page.getByLabel('Of subscription (empty: all)'), subscription.id);
    await page.getByRole('button', { name: 'Start retry' }).click();
    await hasText(page.getByRole('status', { name: 'Bulk retry progress' }), /completed[\s\S]*1 matched, 1 retried, 0 skipped/);
    await expect.poll(hits, { timeout: 60_000 }).toBe(2);
    // the list behind the form is read again once the job is done: nothing failed is left
    await visible(page.getByText('No delivery matches these filters.'));
    await screen(page, 'bulk-retry');
    expect(problems).toEqual([]);
  });

  it("shows a portal link only its tenant's events, and no edit controls to a read link", { timeout: 300_000 }, async () => {
    const { origin, browser, api, receiver } = await world();
    const tenants: Record<'a' | 'b', { id: string; subscription: string }> = {} as never;
    for (const name of ['a', 'b'] as const) {
      const tenant = must(await api.POST('/v1/tenants', { body: { name: `portal ${name}` } }));
      const source = must(await api.POST('/v1/tenants/{tenantId}/sources', { params: { path: { tenantId: tenant.id } }, body: { name: `${name} source` } }));
      const subscription = must(
        await api.POST('/v1/tenants/{tenantId}/subscriptions', {
          params: { path: { tenantId: tenant.id } },
          body: { name: `${name} hooks`, types: ['**'], action: { type: 'webhook', config: { url: `${receiver.url}/portal-${name}` } } },
        }),
      );
      const events = [makeEvent(`${name}-1`, 1, { type: `${name}side.created` }), makeEvent(`${name}-2`, 2, { type: `${name}side.updated` })];
      const sent = await send(origin, signedIngest({ tenantId: tenant.id, sourceId: source.id, secret: source.secret! }, events, 'batch'));
      expect(sent.status).toBe(202);
      tenants[name] = { id: tenant.id, subscription: subscription.id };
    }

    const link = must(
      await api.POST('/v1/tenants/{tenantId}/portal-links', { params: { path: { tenantId: tenants.a.id } }, body: { capabilities: ['read'] } }),
    );
    const context = await browser.newContext({ viewport: { width: 1366, height: 900 } });
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(error.message));
    await page.goto(link.url);
    await visible(page.getByRole('heading', { name: 'Events' }));
    expect(page.url()).toBe(`${origin}/console/tenants/${tenants.a.id}/events`);
    const table = page.getByRole('table');
    await visible(table.getByRole('link', { name: 'aside.created' }));
    await visible(table.getByRole('link', { name: 'aside.updated' }));
    await hasCount(page.getByText(/bside\./), 0);
    const nav = page.getByRole('navigation', { name: 'Console' });
    await hasCount(nav.getByRole('link', { name: 'Tenants' }), 0);
    await hasText(nav, 'Portal · read');
    await screen(page, 'portal-events');

    // no control to change anything: subscriptions, a subscription, sources, a delivery
    await nav.getByRole('link', { name: 'Subscriptions' }).click();
    await visible(page.getByRole('link', { name: 'a hooks' }));
    await hasCount(page.getByRole('link', { name: 'New subscription' }), 0);
    await page.getByRole('link', { name: 'a hooks' }).click();
    await visible(page.getByRole('heading', { name: 'a hooks' }));
    for (const control of ['Disable', 'Edit', 'Rotate secret', 'Send test event']) await hasCount(page.getByRole('button', { name: control }), 0);
    await refreshUntil(page, page.locator('table .badge-delivered').first());
    await page.getByRole('table').getByRole('link', { name: /^dlv_/ }).first().click();
    await visible(page.getByText('Attempt 1'));
    await hasCount(page.getByRole('button', { name: 'Retry' }), 0);
    await nav.getByRole('link', { name: 'Sources' }).click();
    await visible(page.getByRole('article', { name: 'Source a source' }));
    await hasCount(page.getByRole('button', { name: /New source|Rotate secret/ }), 0);
    await screen(page, 'portal-sources');

    // tenant B's pages, even typed in by hand, show nothing of B
    await page.goto(`${origin}/console/tenants/${tenants.b.id}/events`);
    await visible(page.getByRole('alert'));
    await hasCount(page.getByText(/bside\./), 0);
    await page.goto(`${origin}/console/tenants/${tenants.b.id}/subscriptions/${tenants.b.subscription}`);
    await visible(page.getByRole('alert'));
    await hasCount(page.getByText('b hooks'), 0);
    await page.goto(`${origin}/console/tenants`);
    await hasUrl(page, `${origin}/console/tenants/${tenants.a.id}/events`);

    // a manage link shows the controls a read link hides
    const manage = must(
      await api.POST('/v1/tenants/{tenantId}/portal-links', { params: { path: { tenantId: tenants.a.id } }, body: { capabilities: ['read', 'manage'] } }),
    );
    await page.evaluate(() => sessionStorage.clear());
    await page.goto(manage.url);
    await visible(page.getByRole('heading', { name: 'Events' }));
    await nav.getByRole('link', { name: 'Subscriptions' }).click();
    await visible(page.getByRole('link', { name: 'New subscription' }));
    await page.getByRole('link', { name: 'a hooks' }).click();
    await visible(page.getByRole('button', { name: 'Disable' }));
    await hasCount(page.getByRole('button', { name: 'Rotate secret' }), 0);
    expect(problems).toEqual([]);
    await context.close();
  });
});

/** Waits until the locator (its first match) is visible. */
async function visible(locator: Locator, timeout = 30_000): Promise<void> {
  await locator.first().waitFor({ state: 'visible', timeout });
}

async function hasText(locator: Locator, text: string | RegExp): Promise<void> {
  await expect
    .poll(async () => (await locator.allInnerTexts()).join('\n'), { timeout: 30_000 })
    .toMatch(typeof text === 'string' ? new RegExp(escapeRegExp(text)) : text);
}

async function hasCount(locator: Locator, count: number): Promise<void> {
  await expect.poll(() => locator.count(), { timeout: 30_000 }).toBe(count);
}

async function hasValue(locator: Locator, value: string): Promise<void> {
  await expect.poll(() => locator.inputValue(), { timeout: 30_000 }).toBe(value);
}

async function hasUrl(page: Page, url: string): Promise<void> {
  await expect.poll(() => page.url(), { timeout: 30_000 }).toBe(url);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Clicks the screen's Refresh button until `target` shows (deliveries appear a moment after the event). */
async function refreshUntil(page: Page, target: Locator): Promise<void> {
  const deadline = Date.now() + 90_000;
  while (!(await target.isVisible())) {
    if (Date.now() > deadline) throw new Error('the screen never showed what it was waiting for');
    await page.waitForTimeout(500);
    await page.getByRole('button', { name: 'Refresh' }).first().click();
  }
}
