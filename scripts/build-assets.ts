/**
 * Fills the git-ignored parts of the Worker's static assets (`public/`): the API reference renderer,
 * copied from the `swagger-ui-dist` package into `public/docs/vendor/`, so `/docs/` loads it from the
 * same origin and works offline; and the console (`console/`, React + Vite) built into
 * `public/console/`. wrangler.toml's `[build] command` runs this before `wrangler dev` and
 * `wrangler deploy` (so `npm run dev`, `npm run deploy` and the bench's deploy bundle get it), and the
 * test set-up runs it too. Files already up to date are left alone, so a dev reload does not touch them:
 * the console is built again only when its sources (or the typed client, or the build's packages) changed.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(import.meta.dirname, '..');
/** What the page needs (no source maps: 7 MB a browser fetches only with devtools open), and the licence. */
const SWAGGER_UI_FILES = ['swagger-ui-bundle.js', 'swagger-ui.css', 'favicon-32x32.png', 'LICENSE', 'NOTICE'];

export async function buildAssets(): Promise<string[]> {
  const source = dirname(createRequire(join(root, 'package.json')).resolve('swagger-ui-dist/package.json'));
  const target = join(root, 'public/docs/vendor');
  await mkdir(target, { recursive: true });
  const written: string[] = [];
  for (const name of SWAGGER_UI_FILES) {
    const bytes = await readFile(join(source, name));
    const existing = await readFile(join(target, name)).catch(() => null);
    if (existing?.equals(bytes)) continue;
    await writeFile(join(target, name), bytes);
    written.push(name);
  }
  return written;
}

const CONSOLE_SOURCES = ['console', 'packages/client/src'];
const CONSOLE_PACKAGES = ['vite', '@vitejs/plugin-react', 'react', 'react-dom', 'uplot', 'openapi-fetch', '@cfworker/json-schema'];
const CONSOLE_OUT = join(root, 'public/console');
/** Outside `public/`, so a half-written build is never served or deployed. */
const CONSOLE_WORK = join(root, 'node_modules/.cache/switchyard-console');

export interface ConsoleBuild {
  kind: 'built' | 'up-to-date';
  /** Milliseconds the build took (0 when up to date). */
  ms: number;
}

/**
 * Builds the console with Vite into `public/console/` unless the last build came from the same sources.
 * The build is written beside and then renamed into place, so a runtime serving the old one (another
 * test, `wrangler dev`) never sees a half-written directory.
 */
export async function buildConsole(options: { force?: boolean } = {}): Promise<ConsoleBuild> {
  const fingerprint = await consoleFingerprint();
  const stampFile = join(CONSOLE_WORK, 'stamp');
  const stamp = await readFile(stampFile, 'utf8').catch(() => '');
  const present = await stat(join(CONSOLE_OUT, 'index.html')).then(
    () => true,
    () => false,
  );
  if (!options.force && present && stamp === fingerprint) return { kind: 'up-to-date', ms: 0 };

  const started = performance.now();
  const outDir = join(CONSOLE_WORK, `out-${process.pid}-${Date.now()}`);
  const { build } = await import('vite');
  await build({
    root: join(root, 'console'),
    configFile: join(root, 'console/vite.config.ts'),
    logLevel: 'warn',
    build: { outDir, emptyOutDir: true },
  });
  const old = `${outDir}-old`;
  await rename(CONSOLE_OUT, old).catch(() => {});
  try {
    await rename(outDir, CONSOLE_OUT);
  } catch (error) {
    // another process (a parallel test's build) put its build of the same sources in place first
    if (!(await stat(join(CONSOLE_OUT, 'index.html')).catch(() => null))) throw error;
    await rm(outDir, { recursive: true, force: true });
  }
  await rm(old, { recursive: true, force: true });
  await mkdir(CONSOLE_WORK, { recursive: true });
  await writeFile(stampFile, fingerprint);
  return { kind: 'built', ms: Math.round(performance.now() - started) };
}

/** A hash of every console source file and of the versions of the packages the build uses. */
async function consoleFingerprint(): Promise<string> {
  const hash = createHash('sha256');
  for (const dir of CONSOLE_SOURCES) {
    for (const file of (await listFiles(join(root, dir))).sort()) {
      hash.update(`${file}\0`);
      hash.update(await readFile(file));
    }
  }
  for (const name of CONSOLE_PACKAGES) {
    // read directly: some packages do not export their package.json
    const manifest = await readFile(join(root, 'node_modules', name, 'package.json'), 'utf8').catch(() => '{}');
    hash.update(`${name}@${(JSON.parse(manifest) as { version?: string }).version}\0`);
  }
  return hash.digest('hex');
}

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const files: string[] = [];
  for (const entry of entries) {
    if (entry.name === 'node_modules') continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...(await listFiles(path)));
    else if (entry.isFile()) files.push(path);
  }
  return files;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const written = await buildAssets();
  if (written.length) console.log(`build-assets: public/docs/vendor/ <- swagger-ui-dist (${written.join(', ')})`);
  const built = await buildConsole({ force: process.argv.includes('--force') });
  if (built.kind === 'built') console.log(`build-assets: public/console/ <- console/ (vite build, ${built.ms} ms)`);
}
