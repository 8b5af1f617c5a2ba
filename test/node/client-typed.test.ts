/**
 * The typed producer rejects what it should at compile time. packages/client/test/typed.ts marks each
 * bad send with `// @ts-expect-error` and type-checks clean; copies with one directive removed must
 * then fail to compile, at the line that directive covered (so the directives are not vacuous).
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { root } from '../../scripts/lib/demo.ts';

const client = join(root, 'packages/client');
const tsc = (project: string) => spawnSync(join(root, 'node_modules/.bin/tsc'), ['--noEmit', '-p', project], { encoding: 'utf8' });

describe('createProducer<Events>', () => {
  let dir: string | undefined;
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('compiles the typed examples, and fails once the directive on an unknown type or a wrong payload is removed', { timeout: 60_000 }, async () => {
    const clean = tsc(client);
    expect(clean.stdout + clean.stderr).toBe('');
    expect(clean.status).toBe(0);

    dir = await mkdtemp(join(tmpdir(), 'switchyard-typed-'));
    const source = (await readFile(join(client, 'test/typed.ts'), 'utf8')).replace("'../src/index.ts'", JSON.stringify(join(client, 'src/index.ts')));
    const cases = { 'unknown-type': 'unknown event type', 'wrong-payload': 'wrong payload' };
    for (const [name, marker] of Object.entries(cases)) {
      const lines = source.split('\n');
      const at = lines.findIndex((line) => line.includes(`@ts-expect-error ${marker}`));
      expect(at, marker).toBeGreaterThan(0);
      lines.splice(at, 1);
      await writeFile(join(dir, `${name}.ts`), lines.join('\n'));
    }
    await writeFile(join(dir, 'tsconfig.json'), JSON.stringify({ extends: join(client, 'tsconfig.json'), include: ['*.ts'] }));
    const broken = tsc(dir);
    expect(broken.status).not.toBe(0);
    expect(broken.stdout).toMatch(/unknown-type\.ts\(\d+,\d+\): error TS2322: Type '"order\.deleted"' is not assignable/);
    expect(broken.stdout).toMatch(/wrong-payload\.ts\(\d+,\d+\): error TS2322: Type 'string' is not assignable to type 'number'/);
    // nothing else in the copies fails: one error for the unknown type (and its data), one for the payload
    expect(broken.stdout.match(/error TS/g)?.length).toBeLessThanOrEqual(3);
  });
});
