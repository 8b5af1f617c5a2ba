/**
 * The typed client (packages/client) is generated from this runtime's /openapi.json. The committed
 * copy must be the document the routes produce today, or the SDK, the CLI and the console would be typed
 * against an API that is not there. test/node/client-schema.test.ts checks the TypeScript generated from it.
 */
import { describe, expect, it } from 'vitest';
import committed from '../../packages/client/openapi.json';
import { call } from '../fixtures/api';

describe('packages/client/openapi.json', () => {
  it('is the document the runtime serves (else run npm run client:generate)', async () => {
    const res = await call('/openapi.json');
    expect(res.status).toBe(200);
    const served = await res.json();
    // compared path by path first, so a failure names the route that changed
    const servedPaths = Object.keys((served as { paths: object }).paths).sort();
    expect(servedPaths, 'paths differ: run npm run client:generate').toEqual(Object.keys(committed.paths).sort());
    expect(served, 'the document differs: run npm run client:generate').toEqual(committed);
  });
});
