import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { summarizeGc } from '../../scripts/bench/cases.ts';
import { type FullGc, parseFullGc } from '../../scripts/lib/runtime.ts';
import { createPgFrameCounter, pgDelta } from '../../scripts/lib/pg-frames.ts';
import { loadSourceMap } from '../../scripts/lib/source-map.ts';

// lines as workerd's V8 prints them with --trace-gc (the second with --trace-gc-nvp's isolate suffix)
const TRACED = [
  '[8808:0x53f93fca2000]     6080 ms: Mark-Compact 57.9 (105.1) -> 11.9 (92.6) MB, pooled: 12.5 MB, 101.60 / 0.00 ms  (average mu = 0.965, current mu = 0.964) allocation limit; GC in old space requested',
  '[9007:0x32313f794000:6]     2631 ms: Mark-Compact (reduce) 34.2 (45.5) -> 0.5 (15.5) MB, pooled: 29.8 MB, 113.18 / 0.00 ms  (average mu = 0.957, current mu = 0.957) global allocation limit; GC in old space requested',
];

describe('the bench reads V8 full collections', () => {
  it('parses the isolate, the pause and the heap left from a --trace-gc line', () => {
    expect(parseFullGc(TRACED[0]!, 5)).toEqual({ at: 5, isolate: '0x53f93fca2000', heapAfterMb: 11.9, pauseMs: 101.6 });
    expect(parseFullGc(TRACED[1]!, 6)).toEqual({ at: 6, isolate: '0x32313f794000', heapAfterMb: 0.5, pauseMs: 113.18 });
  });

  it('leaves scavenges and other output alone', () => {
    const scavenge =
      '[8808:0x53f93fca2000]      434 ms: Scavenge 15.2 (19.1) -> 13.2 (20.1) MB, pooled: 0.0 MB, 2.34 / 0.00 ms  (average mu = 1.000, current mu = 1.000) allocation failure;';
    expect(parseFullGc(scavenge, 1)).toBeNull();
    expect(parseFullGc('[workerd warn] Mark-Compact is a word in this log line', 1)).toBeNull();
  });

  it("summarizes the busiest isolate's collections inside a window", () => {
    const gc = (at: number, isolate: string, pauseMs: number, heapAfterMb = 8.5): FullGc => ({ at, isolate, pauseMs, heapAfterMb });
    const all = [
      gc(50, '0xa', 500), // before the window
      gc(100, '0xa', 90),
      gc(200, '0xa', 110, 9),
      gc(300, '0xa', 100),
      gc(250, '0xb', 30, 0.5), // Miniflare's own Worker, idle
      gc(900, '0xa', 400), // after it
    ];
    expect(summarizeGc(all, 100, 300)).toEqual({ count: 3, pauseMs: { p50: 100, max: 110 }, heapAfterMb: 8.5 });
    expect(summarizeGc(all, 400, 800)).toEqual({ count: 0, pauseMs: { p50: 0, max: 0 }, heapAfterMb: 0 });
  });
});

describe("the bench's source map", () => {
  it("names a minified function as the source does, where V8's profile places it", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'source-map-'));
    writeFileSync(
      join(dir, 'entry.ts'),
      [
        'export async function appendOne(values: number[]): Promise<number> {',
        '  return values.reduce((sum, v) => sum + v, 0);',
        '}',
        'export const packResponse = (answer: { n: number }) => JSON.stringify(answer);',
        'export const settle = async (label: string) => label.length;',
      ].join('\n'),
    );
    await build({ entryPoints: [join(dir, 'entry.ts')], outfile: join(dir, 'index.js'), bundle: true, minify: true, sourcemap: true, format: 'esm' });
    const bundle = readFileSync(join(dir, 'index.js'), 'utf8');
    const lookup = loadSourceMap(join(dir, 'index.js.map'), dir);
    expect(lookup).not.toBeNull();
    // where V8's profile places a function (a declaration at its parameters, an arrow at its start), named as the bundle names it
    const at = (pattern: RegExp) => {
      const m = bundle.match(pattern);
      if (!m) throw new Error(`${pattern} is not in ${bundle}`);
      const column = m.index! + m[0].length;
      return { line: bundle.slice(0, column).split('\n').length - 1, column: column - bundle.lastIndexOf('\n', column - 1) - 1, name: m[1]! };
    };
    const declared = at(/async function (\w+)(?=\()/);
    expect(declared.name).not.toBe('appendOne');
    expect(lookup!.name(declared.line, declared.column, declared.name)).toBe('appendOne');
    expect(lookup!.where(declared.line, declared.column)).toBe('entry.ts:1');
    const arrow = at(/(\w+)=(?=\w+=>JSON)/);
    expect(lookup!.name(arrow.line, arrow.column, arrow.name)).toBe('packResponse');
    const asyncArrow = at(/(\w+)=(?=async )/);
    expect(lookup!.name(asyncArrow.line, asyncArrow.column, asyncArrow.name)).toBe('settle');
    // a name V8 gives that the map does not know stays unmapped
    expect(lookup!.name(declared.line, declared.column, 'elsewhere')).toBeNull();
  });
});

describe('the bench counts Postgres round trips', () => {
  /** A frontend or backend message: type byte, length (itself included), payload. */
  const message = (type: string, payload: Buffer = Buffer.alloc(0)) => {
    const head = Buffer.alloc(5);
    head.write(type, 0, 'latin1');
    head.writeInt32BE(4 + payload.length, 1);
    return Buffer.concat([head, payload]);
  };
  const startup = () => {
    const body = Buffer.alloc(8);
    body.writeInt32BE(8, 0);
    body.writeInt32BE(196608, 4);
    return body;
  };
  const parse = (sql: string) => message('P', Buffer.from(`\0${sql}\0\0\0`, 'utf8'));

  it('counts a round trip and its statement both when answered, so a window never shows more statements than round trips', () => {
    const counter = createPgFrameCounter();
    const answer = () => counter.serverData?.(1, message('Z', Buffer.from('I')));
    counter.open(1);
    counter.clientData(1, startup());
    answer();
    // sent before the window, answered inside it
    counter.clientData(1, Buffer.concat([parse('INSERT INTO events SELECT 1'), message('S')]));
    const before = counter.snapshot();
    answer();
    // sent inside the window, answered after it
    counter.clientData(1, Buffer.concat([parse('SELECT 2'), message('S')]));
    const delta = pgDelta(counter.snapshot(), before);
    expect(delta.roundTrips).toBe(1);
    expect(Object.values(delta.statements).reduce((n, s) => n + s.count, 0)).toBe(1);
    expect(Object.keys(delta.statements)).toEqual(['INSERT INTO events SELECT 1']);
    // the start-up is a connection, not a round trip
    expect(counter.snapshot()).toMatchObject({ connections: 1, roundTrips: 1 });
  });
});
