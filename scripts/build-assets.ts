/**
 * Fills the git-ignored parts of the Worker's static assets (`public/`): the API reference renderer,
 * copied from the `swagger-ui-dist` package into `public/docs/vendor/`, so `/docs/` loads it from the
 * same origin and works offline. wrangler.toml's `[build] command` runs this before `wrangler dev` and
 * `wrangler deploy` (so `npm run dev`, `npm run deploy` and the bench's deploy bundle get it), and the
 * test set-up runs it too. Files already up to date are left alone, so a dev reload does not touch them.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
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

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const written = await buildAssets();
  if (written.length) console.log(`build-assets: public/docs/vendor/ <- swagger-ui-dist (${written.join(', ')})`);
}
