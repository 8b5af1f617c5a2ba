/**
 * `/docs` in a real browser: the bundle `wrangler deploy` would upload, with wrangler.toml's static
 * assets routed in front of it as a deploy routes them, under workerd (scripts/lib/runtime.ts), opened
 * in headless Chromium (Debian's `chromium`, driven by playwright-core). The page must list every
 * operation of /openapi.json and load nothing from another origin, so it works offline.
 *
 * Without Chromium a local run skips this file with a message; CI (CI=true, `.ci/run` installs it) fails.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { root } from '../../scripts/lib/demo.ts';
import { bundleWorker, startRuntime, type Runtime } from '../../scripts/lib/runtime.ts';

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
/** The whole page, and the first screen beside it as `docs-top.png`. */
const SCREENSHOT = join(root, 'test-results/screens/docs.png');
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

const hasChromium = existsSync(CHROMIUM);
const skip = !hasChromium && !process.env.CI;
if (skip)
  console.warn(
    `[docs-page] SKIPPED: no Chromium at ${CHROMIUM}, so /docs is not checked in a browser (apt-get install -y chromium, or set CHROMIUM_PATH; CI fails instead)`,
  );

type OpenApi = { info: { title: string }; paths: Record<string, Record<string, { summary?: string }>> };

describe.skipIf(skip)('/docs in headless Chromium', () => {
  let workdir: string | undefined;
  let runtime: Runtime | undefined;
  let browser: Browser | undefined;

  // started inside the test, not in a hook: a hook's failure would count as a skip in the run's summary line
  async function start(): Promise<{ origin: string; browser: Browser }> {
    if (!hasChromium) throw new Error(`CI needs Chromium at ${CHROMIUM} (.ci/run installs Debian's chromium), and it is missing`);
    workdir = await mkdtemp(join(tmpdir(), 'switchyard-docs-'));
    // runs wrangler.toml's [build] command too, which copies swagger-ui-dist into public/docs/vendor/
    const bundle = await bundleWorker(workdir);
    runtime = await startRuntime({
      kind: 'bundle',
      script: bundle.script,
      assets: true,
      // the reference needs no database: nothing here connects to this address
      bindings: {
        ADMIN_JWT_SECRET: 'docs-test-admin-secret-0123456789',
        ENCRYPTION_KEY: 'MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=',
        DATABASE_URL: 'postgres://switchyard@127.0.0.1:9/unused',
      },
    });
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    return { origin: runtime.url, browser };
  }

  afterAll(async () => {
    await browser?.close();
    await runtime?.stop();
    if (workdir) await rm(workdir, { recursive: true, force: true });
  });

  it('shows every operation of /openapi.json when /docs is opened, loading nothing from another origin', { timeout: 90_000 }, async () => {
    const { origin, browser } = await start();
    const doc = (await (await fetch(`${origin}/openapi.json`)).json()) as OpenApi;
    const expected = Object.entries(doc.paths).flatMap(([path, item]) =>
      METHODS.filter((m) => item[m]).map((m) => ({ operation: `${m.toUpperCase()} ${path}`, summary: item[m]!.summary ?? '' })),
    );
    expect(expected.map((e) => e.operation)).toEqual(expect.arrayContaining(['POST /v1/tenants', 'POST /v1/ingest/{sourceId}', 'GET /docs']));

    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const requests: string[] = [];
    const problems: string[] = [];
    page.on('request', (request) => requests.push(request.url()));
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    // a request the page's Content-Security-Policy refuses is no request, but Chromium logs it as an error
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
    });

    const response = await page.goto(`${origin}/docs`, { waitUntil: 'load' });
    expect(response?.status()).toBe(200);
    // Swagger UI renders one .opblock per operation, under its tag, once /openapi.json has loaded; a page
    // that never gets there fails below, on what it requested and what it shows
    await page
      .locator('.opblock')
      .nth(expected.length - 1)
      .waitFor({ timeout: 10_000 })
      .catch(() => {});
    const elsewhere = requests.filter((url) => !url.startsWith('data:') && new URL(url).origin !== origin);
    expect(elsewhere, 'requests to another origin').toEqual([]);
    expect(problems).toEqual([]);

    const rendered = await page.locator('.opblock').evaluateAll((blocks) =>
      blocks.map((block) => ({
        operation: `${block.querySelector('.opblock-summary-method')?.textContent?.trim()} ${block.querySelector('.opblock-summary-path')?.getAttribute('data-path')}`,
        summary: block.querySelector('.opblock-summary-description')?.textContent?.trim() ?? '',
      })),
    );
    expect(rendered.map((r) => r.operation).sort()).toEqual(expected.map((e) => e.operation).sort());
    expect(rendered.filter((r) => r.operation === 'POST /v1/tenants')).toEqual(expected.filter((e) => e.operation === 'POST /v1/tenants'));
    for (const { operation, summary } of expected) expect(rendered.find((r) => r.operation === operation)?.summary, operation).toBe(summary);
    await expect(page.locator('.info .title').textContent()).resolves.toContain(doc.info.title);
    // opening an operation shows its request body and responses, still without leaving the origin
    const createTenant = page.locator('.opblock-post').filter({ has: page.locator('[data-path="/v1/tenants"]') });
    await createTenant.locator('.opblock-summary').click();
    await createTenant.locator('.responses-table').first().waitFor({ timeout: 5_000 });
    await expect(createTenant.locator('.opblock-body').textContent()).resolves.toMatch(/Request body[\s\S]*201/);

    await mkdir(join(root, 'test-results/screens'), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    await page.screenshot({ path: SCREENSHOT.replace(/\.png$/, '-top.png') });

    // /docs is answered by the assets' redirect to the page, whose files are all on this origin
    expect(new URL(page.url()).pathname).toBe('/docs/');
    expect(requests).toEqual(expect.arrayContaining([`${origin}/docs/vendor/swagger-ui-bundle.js`, `${origin}/openapi.json`]));
    expect(problems).toEqual([]);
  });
});
