/**
 * `npm run client:generate`: regenerates the typed client's view of the API from the runtime itself.
 * Builds the Worker `wrangler deploy` would upload, serves it under workerd, fetches `/openapi.json`
 * into packages/client/openapi.json and turns it into TypeScript (`openapi-typescript`) in
 * packages/client/src/schema.ts. Both files are committed; test/node/client-schema.test.ts fails when
 * they no longer match the routes, naming this command.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { root } from './lib/demo.ts';
import { bundleWorker, startRuntime } from './lib/runtime.ts';

export const CLIENT_DIR = join(root, 'packages/client');
export const OPENAPI_FILE = join(CLIENT_DIR, 'openapi.json');
export const SCHEMA_FILE = join(CLIENT_DIR, 'src/schema.ts');

/** The document as the runtime serves it, formatted as committed. */
export async function fetchOpenApi(origin: string): Promise<string> {
  const response = await fetch(`${origin}/openapi.json`);
  if (!response.ok) throw new Error(`GET /openapi.json answered ${response.status}`);
  return `${JSON.stringify(await response.json(), null, 2)}\n`;
}

/** openapi-typescript (packages/client's dev dependency, with the TypeScript 5 it needs) over a document file. */
export function typesFrom(openapiFile: string, outFile: string): Promise<void> {
  const bin = join(CLIENT_DIR, 'node_modules/.bin/openapi-typescript');
  return new Promise((resolve, reject) => {
    const child = spawn(bin, [openapiFile, '--output', outFile, '--root-types', '--default-non-nullable=false'], { stdio: ['ignore', 'ignore', 'inherit'] });
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`openapi-typescript exited ${code}`))));
  });
}

export async function startDocRuntime(workdir: string) {
  const bundle = await bundleWorker(workdir);
  return startRuntime({
    kind: 'bundle',
    script: bundle.script,
    // the document needs no database: nothing connects to this address
    bindings: {
      ADMIN_JWT_SECRET: 'client-generate-secret-0123456789',
      ENCRYPTION_KEY: 'MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=',
      DATABASE_URL: 'postgres://switchyard@127.0.0.1:9/unused',
    },
  });
}

if (process.argv[1] === import.meta.filename) {
  const workdir = await mkdtemp(join(tmpdir(), 'switchyard-client-'));
  const runtime = await startDocRuntime(workdir);
  try {
    await writeFile(OPENAPI_FILE, await fetchOpenApi(runtime.url));
    await typesFrom(OPENAPI_FILE, SCHEMA_FILE);
    console.log('client:generate: packages/client/openapi.json and src/schema.ts written');
  } finally {
    await runtime.stop();
    await rm(workdir, { recursive: true, force: true });
  }
}
