/**
 * The SDK bundles for the browser (esbuild, platform "browser": a Node built-in anywhere in it would
 * fail the build) within the 10 KB gzipped budget of DESIGN.md §7. `npm run client:size` prints the figures.
 */
import { describe, expect, it } from 'vitest';
import { BUDGET_GZIP_BYTES, bundleSize } from '../../scripts/client-size.ts';

describe('@switchyard/client bundle', () => {
  it('builds for the browser and stays under 10 KB gzipped when everything is imported', async () => {
    const size = await bundleSize('everything', '*');
    expect(size.raw).toBeGreaterThan(size.gzip);
    expect(size.gzip).toBeLessThanOrEqual(BUDGET_GZIP_BYTES);
    // tree-shaking leaves a producer-only app a fraction of it
    const producer = await bundleSize('producer', ['createProducer']);
    expect(producer.gzip).toBeLessThan(size.gzip / 2);
  });
});
