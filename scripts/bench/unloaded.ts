import { runAlternating } from '../lib/paced.ts';
import { percentiles } from '../lib/percentiles.ts';
import type { Source } from '../lib/switchyard-api.ts';
import { requestPool } from './pool.ts';
import type { BenchReport } from './report.ts';

/** Alternates plain single-event requests with schema- and script-validated ones, one at a time. */
export async function measureUnloaded(
  base: string,
  sources: { plain: Source; schema: Source; script: Source | null },
  log: (line: string) => void,
): Promise<BenchReport['unloaded']> {
  const PAIRS = 800;
  const pool = (source: Source, label: string) => requestPool(source, { label, eventsPerRequest: 1, size: PAIRS + 50 });
  const plainPool = pool(sources.plain, 'unloaded-plain');
  const schemaPool = pool(sources.schema, 'unloaded-schema');
  await runAlternating({ url: base, nextA: plainPool.next, nextB: schemaPool.next, pairs: 30 });
  const schemaRun = await runAlternating({ url: base, nextA: plainPool.next, nextB: schemaPool.next, pairs: PAIRS });
  let scriptRun: Awaited<ReturnType<typeof runAlternating>> | null = null;
  if (sources.script) {
    const scriptPool = pool(sources.script, 'unloaded-script');
    const plainAgain = pool(sources.plain, 'unloaded-plain2');
    await runAlternating({ url: base, nextA: plainAgain.next, nextB: scriptPool.next, pairs: 30 });
    scriptRun = await runAlternating({ url: base, nextA: plainAgain.next, nextB: scriptPool.next, pairs: PAIRS });
  }
  const result = {
    pairs: PAIRS,
    plainVsSchema: { plain: percentiles(schemaRun.a), validated: percentiles(schemaRun.b), status: { ...schemaRun.statusA, ...schemaRun.statusB } },
    plainVsScript: scriptRun
      ? { plain: percentiles(scriptRun.a), validated: percentiles(scriptRun.b), status: { ...scriptRun.statusA, ...scriptRun.statusB } }
      : null,
  };
  const line = (name: string, r: { plain: { p50: number; p99: number }; validated: { p50: number; p99: number } }) =>
    `bench: one request at a time, alternating: plain p50 ${r.plain.p50} ms / + ${name} p50 ${r.validated.p50} ms (added ${(r.validated.p50 - r.plain.p50).toFixed(2)} ms)`;
  log(line('JSON Schema', result.plainVsSchema));
  if (result.plainVsScript) log(line('script validator', result.plainVsScript));
  return result;
}
