/**
 * Maps a position in the bundle back to the source file and line (source map v3, as `wrangler deploy
 * --dry-run` writes it next to the bundle), so a profile can name `src/durable/tenant-log.ts:160`
 * instead of `index.js:46961`; and, since the bundle is minified, a function's name back to the
 * source's (`appendOne` instead of `p`). Only what that needs: VLQ decoding and a per-line lookup.
 */
import { readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';

interface RawMap {
  sources: string[];
  names?: string[];
  mappings: string;
}

export interface Lookup {
  /** `src/durable/tenant-log.ts:160` for a 0-based bundle position, as the DevTools protocol gives it. */
  where(line: number, column: number): string | null;
  /**
   * The source's name for a function V8 calls `generated` and places at `column`: V8 puts a function
   * at its parameter list, a few characters after the (minified) name that the map names.
   */
  name(line: number, column: number, generated: string): string | null;
}
const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

function decodeVlq(segment: string): number[] {
  const values: number[] = [];
  let value = 0;
  let shift = 0;
  for (const char of segment) {
    const digit = BASE64.indexOf(char);
    value += (digit & 31) << shift;
    if (digit & 32) {
      shift += 5;
      continue;
    }
    values.push(value & 1 ? -(value >>> 1) : value >>> 1);
    value = 0;
    shift = 0;
  }
  return values;
}

/**
 * Lines and columns are 0-based, as in the DevTools protocol; files are named relative to `root`.
 * `path` is the map, next to its bundle (read to check the names). Null when either cannot be read.
 */
export function loadSourceMap(path: string, root: string): Lookup | null {
  let map: RawMap;
  let bundleLines: string[];
  try {
    map = JSON.parse(readFileSync(path, 'utf8')) as RawMap;
    bundleLines = readFileSync(path.replace(/\.map$/, ''), 'utf8').split('\n');
  } catch {
    return null;
  }
  // per generated line: [generatedColumn, sourceIndex, originalLine, nameIndex or -1] sorted by column
  const lines: [number, number, number, number][][] = [];
  let source = 0;
  let originalLine = 0;
  let nameIndex = 0;
  for (const lineText of map.mappings.split(';')) {
    const segments: [number, number, number, number][] = [];
    let column = 0;
    for (const segment of lineText.split(',')) {
      if (!segment) continue;
      const [dColumn = 0, dSource, dLine, , dName] = decodeVlq(segment);
      column += dColumn;
      if (dSource === undefined || dLine === undefined) continue;
      source += dSource;
      originalLine += dLine;
      if (dName !== undefined) nameIndex += dName;
      segments.push([column, source, originalLine, dName === undefined ? -1 : nameIndex]);
    }
    lines.push(segments);
  }
  return {
    where(line, column) {
      const segments = lines[line];
      if (!segments?.length) return null;
      let best = segments[0]!;
      for (const s of segments) {
        if (s[0] > column) break;
        best = s;
      }
      const source = map.sources[best[1]];
      if (!source) return null;
      const file = relative(root, resolve(dirname(path), source)).replace(/^.*node_modules\//, 'node_modules/');
      return `${file}:${best[2] + 1}`;
    },
    name(line, column, generated) {
      if (!generated) return null;
      const text = bundleLines[line] ?? '';
      // `function p(`, `p=(`, `p=async(`: the name ends at most `async(`'s length before the parameters
      let found: string | null = null;
      for (const s of lines[line] ?? []) {
        if (s[0] > column) break;
        const gap = column - s[0] - generated.length;
        if (s[3] >= 0 && gap >= 0 && gap <= 'async('.length && text.startsWith(generated, s[0])) found = map.names?.[s[3]] ?? null;
      }
      return found;
    },
  };
}
