/**
 * The console at `/console/`: a single-page app built by Vite into `public/console/` and served from
 * the static assets (wrangler.toml `[assets]`), with the Worker in front (`run_worker_first`) so that
 * - `/` and `/console` redirect to `/console/` (a `#token=` fragment survives the redirect);
 * - the app's own paths (`/console/events/evt_1`) answer its `index.html`, while a missing file
 *   (`/console/assets/gone.js`) stays a 404: a script tag must not receive HTML;
 * - every answer carries the portal's security headers, framing allowed only to
 *   `PORTAL_FRAME_ANCESTORS`, and the HTML is revalidated on each load (its hashed assets never).
 */
import type { OpenAPIHono } from '@hono/zod-openapi';
import { configOf } from '../config';
import { problem } from '../lib/problem';
import type { AppEnv } from './context';
import { problemResponse } from './problem-response';

export const CONSOLE_PATH = '/console/';
const HASHED_ASSETS = '/console/assets/';
/** Paths that name a file of the build: never answered with the app's HTML. */
const STATIC_FILE = /\.(?:m?js|css|map|json|png|jpe?g|gif|svg|ico|webp|avif|woff2?|ttf|txt|wasm|webmanifest)$/i;

export function consoleHeaders(frameAncestors: string): Record<string, string> {
  return {
    'content-security-policy': `default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors ${frameAncestors}; base-uri 'none'; form-action 'self'`,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
  };
}

/** A browser opening a page (address bar, link, reload), not a script or stylesheet being loaded. */
function isNavigation(request: Request): boolean {
  return request.headers.get('sec-fetch-mode') === 'navigate' || (request.headers.get('accept') ?? '').includes('text/html');
}

/**
 * Answers a GET or HEAD under `/console/` from `assets` (the `ASSETS` binding): the file, else the
 * app's `index.html` for an app path, else a 404 problem; a 503 problem saying how to build the
 * console when it has not been built.
 */
export async function serveConsole(
  request: Request,
  assets: Pick<Fetcher, 'fetch'> | undefined,
  frameAncestors: string,
  requestId?: string,
): Promise<Response> {
  const { pathname } = new URL(request.url);
  // a runtime started without wrangler.toml's [assets] (a bare Miniflare, the fault suite) has no binding
  if (!assets)
    return problemResponse(problem(503, 'console_unavailable', 'this runtime serves no static assets (no ASSETS binding), so no console'), requestId);
  let response = await assets.fetch(request);
  const appPath = !pathname.startsWith(HASHED_ASSETS) && (!STATIC_FILE.test(pathname) || isNavigation(request));
  const fallback = response.status === 404 && appPath;
  // the same method and validators (If-None-Match), so a revalidation of the app shell can answer 304
  if (fallback) response = await assets.fetch(new Request(new URL(CONSOLE_PATH, request.url), { method: request.method, headers: request.headers }));
  if (response.status === 404) {
    const missing = fallback || pathname === CONSOLE_PATH;
    response = missing
      ? problemResponse(
          problem(
            503,
            'console_not_built',
            'the console has not been built into public/console/: run `npm run console:build` (or `npm run dev`, which builds it and rebuilds on change), then reload',
          ),
          requestId,
        )
      : problemResponse(problem(404, 'not_found', `no console file ${pathname}`), requestId);
  }
  const out = new Response(response.body, response);
  for (const [name, value] of Object.entries(consoleHeaders(frameAncestors))) out.headers.set(name, value);
  if (pathname.startsWith(HASHED_ASSETS) && response.ok) out.headers.set('cache-control', 'public, max-age=31536000, immutable');
  else if (fallback || !response.ok || (out.headers.get('content-type') ?? '').startsWith('text/html')) out.headers.set('cache-control', 'no-cache');
  return out;
}

export function registerConsole(app: OpenAPIHono<AppEnv>): void {
  for (const path of ['/', '/console']) {
    app.openAPIRegistry.registerPath({
      method: 'get',
      path,
      tags: ['docs'],
      summary: 'The console: a redirect to `/console/`, the single-page app (sign in with `/console/#token=<token>`)',
      responses: { 302: { description: 'Redirects to `/console/`, keeping the query', headers: { Location: { schema: { type: 'string' } } } } },
    });
    // the query stays; a fragment (#token=…) is kept by the browser across the redirect
    app.get(path, (c) => c.redirect(`${CONSOLE_PATH}${new URL(c.req.url).search}`, 302));
  }
  // a static file server, so middleware as Hono's serveStatic is: other methods go on to the 404/405
  app.use('/console/*', async function consoleFiles(c, next) {
    if ((c.req.method !== 'GET' && c.req.method !== 'HEAD') || !c.req.path.startsWith(CONSOLE_PATH)) return next();
    return serveConsole(c.req.raw, (c.env as Partial<Env>).ASSETS, configOf(c.env).portalFrameAncestors, c.get('requestId'));
  });
}
