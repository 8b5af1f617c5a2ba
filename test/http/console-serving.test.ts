/**
 * How the Worker serves the console at `/console/`. The app itself is built into the git-ignored
 * `public/console/`, which a test run may or may not have; so the serving rules are checked through
 * the real app with a built console standing in for the `ASSETS` binding (a small in-memory site that
 * answers as Workers Static Assets do), and once against the real binding.
 */
import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { describe, expect, it, vi } from 'vitest';
import { checkConfig, parseFrameAncestors } from '../../src/config';
import { createApp } from '../../src/http/app';
import { BASE, call, testEnv } from '../fixtures/api';

const INDEX =
  '<!doctype html><html><head><script type="module" src="/console/assets/index-abc123.js"></script></head><body><div id="root"></div></body></html>';
const SCRIPT = 'console.log("console")';

/** A built console as the `ASSETS` binding serves it: `/console/` is index.html, a missing file 404 with no body. */
function builtConsole(
  files: Record<string, { body: string; type: string }> = {
    '/console/index.html': { body: INDEX, type: 'text/html; charset=utf-8' },
    '/console/assets/index-abc123.js': { body: SCRIPT, type: 'application/javascript' },
  },
): Fetcher {
  const fetch = async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = new Request(input, init);
    const { pathname } = new URL(request.url);
    if (pathname === '/console/index.html') return new Response(null, { status: 307, headers: { location: '/console/' } });
    const file = files[pathname.endsWith('/') ? `${pathname}index.html` : pathname];
    if (!file) return new Response(null, { status: 404 });
    const etag = `"${file.body.length}"`;
    const headers = { 'content-type': file.type, etag, 'cache-control': 'public, max-age=0, must-revalidate' };
    if (request.headers.get('if-none-match') === etag) return new Response(null, { status: 304, headers });
    return new Response(request.method === 'HEAD' ? null : file.body, { headers });
  };
  return { fetch } as Fetcher;
}

const app = createApp();

async function get(path: string, options: { assets?: Fetcher; frameAncestors?: string; headers?: Record<string, string>; method?: string } = {}) {
  const env = { ...testEnv, ASSETS: options.assets ?? builtConsole(), PORTAL_FRAME_ANCESTORS: options.frameAncestors ?? '' };
  const ctx = createExecutionContext();
  const res = await app.fetch(new Request(`${BASE}${path}`, { method: options.method ?? 'GET', headers: options.headers }), env, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

function expectSecurityHeaders(res: Response, frameAncestors = "'self'"): void {
  const csp = res.headers.get('content-security-policy') ?? '';
  expect(csp).toContain(`frame-ancestors ${frameAncestors};`);
  expect(csp).toContain("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'");
  expect(csp).toContain("base-uri 'none'; form-action 'self'");
  expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  expect(res.headers.get('referrer-policy')).toBe('no-referrer');
}

describe('console serving', () => {
  it('redirects / and /console to /console/, keeping the query', async () => {
    for (const [path, location] of [
      ['/', '/console/'],
      ['/console', '/console/'],
      ['/?tenant=tn_1', '/console/?tenant=tn_1'],
    ] as const) {
      const res = await call(path, { redirect: 'manual' });
      expect(res.status, path).toBe(302);
      expect(res.headers.get('location'), path).toBe(location);
    }
  });

  it("answers an app path with the console's index.html, framable only by PORTAL_FRAME_ANCESTORS", async () => {
    const ancestors = "'self' https://app.example.com https://*.example.org:8443";
    for (const path of ['/console/', '/console/events/evt_1', '/console/tenants/tn_1/subscriptions', '/console/event-types/orders.created']) {
      const res = await get(path, { frameAncestors: ancestors });
      expect(res.status, path).toBe(200);
      expect(await res.text(), path).toBe(INDEX);
      expect(res.headers.get('content-type')).toContain('text/html');
      expect(res.headers.get('cache-control'), path).toBe('no-cache');
      expectSecurityHeaders(res, ancestors);
    }
    expectSecurityHeaders(await get('/console/events/evt_1'), "'self'");
  });

  it('answers a file of the build as it is, and a hashed asset as cacheable for a year', async () => {
    const res = await get('/console/assets/index-abc123.js');
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(SCRIPT);
    expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expectSecurityHeaders(res);
  });

  it('answers 404 for a missing file instead of the app, unless a browser navigates to it', async () => {
    for (const path of ['/console/assets/missing.js', '/console/favicon.ico', '/console/app.css']) {
      const res = await get(path);
      expect(res.status, path).toBe(404);
      expect(await res.json(), path).toMatchObject({ code: 'not_found' });
      expectSecurityHeaders(res);
    }
    // an event type named like a file, opened from the address bar
    const navigated = await get('/console/event-types/orders.json', { headers: { 'sec-fetch-mode': 'navigate', accept: 'text/html' } });
    expect(navigated.status).toBe(200);
    expect(await navigated.text()).toBe(INDEX);
    expect((await get('/console/assets/missing.js', { headers: { 'sec-fetch-mode': 'navigate' } })).status).toBe(404);
  });

  it('passes revalidation and HEAD through to the assets, and the redirect of /console/index.html', async () => {
    const first = await get('/console/events/evt_1');
    const etag = first.headers.get('etag')!;
    const again = await get('/console/events/evt_2', { headers: { 'if-none-match': etag } });
    expect(again.status).toBe(304);
    expectSecurityHeaders(again);
    const head = await get('/console/events/evt_1', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    const index = await get('/console/index.html');
    expect(index.status).toBe(307);
    expect(index.headers.get('location')).toBe('/console/');
  });

  it('answers 503 console_not_built saying how to build it when public/console/ is empty', async () => {
    for (const path of ['/console/', '/console/events/evt_1']) {
      const res = await get(path, { assets: builtConsole({}) });
      expect(res.status, path).toBe(503);
      const body = await res.json<{ code: string; detail: string }>();
      expect(body.code).toBe('console_not_built');
      expect(body.detail).toContain('npm run console:build');
      expect(body.detail).toContain('npm run dev');
      expectSecurityHeaders(res);
    }
  });

  it('answers 503 console_unavailable, not 500, on a runtime started without the ASSETS binding', async () => {
    for (const path of ['/console/', '/console/events/evt_1', '/console/assets/app.js']) {
      const env = { ...testEnv, ASSETS: undefined, PORTAL_FRAME_ANCESTORS: '' };
      const ctx = createExecutionContext();
      const res = await app.fetch(new Request(`${BASE}${path}`), env, ctx);
      await waitOnExecutionContext(ctx);
      expect(res.status, path).toBe(503);
      expect((await res.json<{ code: string }>()).code).toBe('console_unavailable');
    }
  });

  it('serves /console/ from the real assets binding: the built app, or how to build it', async () => {
    const res = await call('/console/events/evt_1');
    expectSecurityHeaders(res);
    const shell = await call('/console/');
    expect(res.status).toBe(shell.status);
    if (shell.status === 200) {
      expect(res.headers.get('content-type')).toContain('text/html');
      expect(await res.text()).toBe(await shell.text());
    } else {
      expect(res.status).toBe(503);
      expect(await res.json()).toMatchObject({ code: 'console_not_built' });
    }
    expect((await call('/console/assets/missing.js')).status).toBe(404);
  });
});

describe('PORTAL_FRAME_ANCESTORS', () => {
  it("defaults to 'self' and keeps a list of sources", () => {
    expect(parseFrameAncestors(undefined)).toBe("'self'");
    expect(parseFrameAncestors('  ')).toBe("'self'");
    expect(parseFrameAncestors("'none'")).toBe("'none'");
    expect(parseFrameAncestors(" 'self'   https://app.example.com http://localhost:3000 https://*.example.org:* https: ")).toBe(
      "'self' https://app.example.com http://localhost:3000 https://*.example.org:* https:",
    );
  });

  it('refuses a value that would end the directive or is no source', () => {
    for (const value of [
      "'self'; script-src *",
      "'self'\nscript-src *",
      "'self',https://evil.example",
      "'none' 'self'",
      "'unsafe-inline'",
      'https://exa mple.com"',
    ]) {
      expect(() => checkConfig({ PORTAL_FRAME_ANCESTORS: value }), value).toThrow(/PORTAL_FRAME_ANCESTORS/);
    }
  });

  it('answers every request 500 while the setting is malformed, rather than serve a console with a broken policy', async () => {
    const logged = vi.spyOn(console, 'error').mockImplementation(() => {});
    const res = await get('/console/', { frameAncestors: "'self'; script-src *" });
    expect(res.status).toBe(500);
    expect(res.headers.get('content-security-policy')).toBeNull();
    expect(logged.mock.calls.flat().join(' ')).toContain('PORTAL_FRAME_ANCESTORS');
    logged.mockRestore();
  });
});
