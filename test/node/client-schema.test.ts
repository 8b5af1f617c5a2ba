/**
 * packages/client/src/schema.ts is openapi-typescript's output for the committed openapi.json (which
 * test/http/openapi-client.test.ts holds to the routes). Regenerating it must change nothing.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { OPENAPI_FILE, SCHEMA_FILE, typesFrom } from '../../scripts/gen-client.ts';

describe('packages/client/src/schema.ts', () => {
  let dir: string | undefined;
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('is what openapi-typescript makes of openapi.json (else run npm run client:generate)', { timeout: 60_000 }, async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchyard-schema-'));
    const fresh = join(dir, 'schema.ts');
    await typesFrom(OPENAPI_FILE, fresh);
    expect(await readFile(SCHEMA_FILE, 'utf8')).toBe(await readFile(fresh, 'utf8'));
  });
});
