/**
 * Prints the per-event overhead of a warm script validator (DESIGN.md §7: under 1 ms p50). Not a timed
 * assertion: timing depends on the machine. Workers clocks tick in whole milliseconds, so calls are
 * timed in blocks of 10 and the p50 is taken over the per-call average of each block.
 */
import { env, exports } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { requestSandboxes } from '../../src/sandbox';
import { api, createSource, ingest, makeEvent, type TestSource } from '../fixtures/api';

const EVENTS = 500;
const BLOCK = 10;
const validator = `export function validate(event) {
  const errors = [];
  if (typeof event.data?.amount !== 'number' || event.data.amount < 0) errors.push({ pointer: '/data/amount', detail: 'amount must be a positive number' });
  if (!/^[A-Z]{3}$/.test(event.data?.currency ?? '')) errors.push({ pointer: '/data/currency', detail: 'currency must be ISO 4217' });
  return { errors };
}`;

/** p50 of the per-call block averages of each runner; the runners take turns block by block, so drift hits both alike. */
async function perCallP50(...runs: (() => Promise<unknown>)[]): Promise<number[]> {
  const blocks = runs.map((): number[] => []);
  for (let b = 0; b < EVENTS / BLOCK; b++) {
    for (const [r, run] of runs.entries()) {
      const started = performance.now();
      for (let i = 0; i < BLOCK; i++) await run();
      blocks[r]!.push((performance.now() - started) / BLOCK);
    }
  }
  return blocks.map((times) => times.sort((x, y) => x - y)[Math.floor(times.length / 2)]!);
}

describe('script validator overhead', () => {
  it('prints the p50 per-event cost of a warm script validator', async () => {
    const sandbox = requestSandboxes(env, { exports })!(`tn_overhead_${crypto.randomUUID()}`);
    const event = makeEvent();
    for (let i = 0; i < 50; i++) await sandbox.call(validator, 'validate', [event]);
    const [direct] = await perCallP50(() => sandbox.call(validator, 'validate', [event]));

    const plain = await createSource();
    const scripted = await createSource();
    const registered = await api('POST', `/v1/tenants/${scripted.tenantId}/plugins`, { type: 'script-validator', name: 'v', config: { source: validator } });
    expect(registered.status).toBe(201);
    const send = async (source: TestSource) => expect((await ingest(source, makeEvent())).status).toBe(202);
    for (let i = 0; i < 50; i++) await Promise.all([send(plain), send(scripted)]);
    const [withoutScript, withScript] = (await perCallP50(() => send(plain), () => send(scripted))) as [number, number];

    console.log(
      `[overhead] warm script validator, p50 over ${EVENTS} events (blocks of ${BLOCK}): ` +
        `sandbox call ${direct!.toFixed(3)} ms; ingest ${withoutScript.toFixed(3)} ms without, ${withScript.toFixed(3)} ms with (+${(withScript - withoutScript).toFixed(3)} ms)`,
    );
  }, 120_000);
});
