/**
 * `npm run client:size`: the SDK's weight in a browser bundle. Bundles packages/client's entry (and
 * single-feature imports, to show what tree-shaking leaves) with esbuild, minified, ES2022, for the
 * browser, and prints raw and gzipped bytes. The budget (DESIGN.md §7) is 10 KB gzipped for the SDK.
 */
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { join } from 'node:path';
import { root } from './lib/demo.ts';

export const CLIENT_ENTRY = join(root, 'packages/client/src/index.ts');
export const BUDGET_GZIP_BYTES = 10 * 1024;

export interface BundleSize {
  name: string;
  raw: number;
  gzip: number;
}

/** What an app importing `names` from the SDK ships (everything when `names` is '*'). */
export async function bundleSize(name: string, names: string[] | '*'): Promise<BundleSize> {
  const contents = names === '*' ? `export * from ${JSON.stringify(CLIENT_ENTRY)};` : `export { ${names.join(', ')} } from ${JSON.stringify(CLIENT_ENTRY)};`;
  const result = await build({
    stdin: { contents, resolveDir: root, loader: 'ts' },
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
  });
  const code = result.outputFiles[0]!.contents;
  return { name, raw: code.length, gzip: gzipSync(code, { level: 9 }).length };
}

export function clientSizes(): Promise<BundleSize[]> {
  return Promise.all([
    bundleSize('@switchyard/client (everything)', '*'),
    bundleSize('createProducer + batcher', ['createProducer', 'batcher']),
    bundleSize('verifyWebhook', ['verifyWebhook']),
    bundleSize('createManagementClient', ['createManagementClient']),
    bundleSize('streamEvents', ['streamEvents']),
  ]);
}

if (process.argv[1] === import.meta.filename) {
  const sizes = await clientSizes();
  const width = Math.max(...sizes.map((s) => s.name.length));
  for (const size of sizes) console.log(`${size.name.padEnd(width)}  ${String(size.raw).padStart(6)} B raw  ${String(size.gzip).padStart(5)} B gzip`);
  const total = sizes[0]!.gzip;
  console.log(`budget: ${BUDGET_GZIP_BYTES} B gzip for everything — ${total <= BUDGET_GZIP_BYTES ? 'within' : 'OVER'}`);
  if (total > BUDGET_GZIP_BYTES) process.exitCode = 1;
}
