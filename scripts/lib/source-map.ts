/**
 * Maps a position in the bundle back to the source file and line (source map v3, as `wrangler deploy
 * --dry-run` writes it next to the bundle), so a profile can name `src/durable/tenant-log.ts:160`
 * instead of `index.js:46961`. Only what that needs: VLQ decoding and a per-line lookup.
 */
import { readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';

interface RawMap {
  sources: string[];
  mappings: string;
}

export type Lookup = (line: number, column: number) => string | null;

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
 * Null when the map cannot be read.
 */
export function loadSourceMap(path: string, root: string): Lookup | null {
  let map: RawMap;
  try {
    map = JSON.parse(readFileSync(path, 'utf8')) as RawMap;
  } catch {
    return null;
  }
  // per generated line: [generatedColumn, sourceIndex, originalLine] sorted by column
  const lines: [number, number, number][][] = [];
  let source = 0;
  let originalLine = 0;
  for (const lineText of map.mappings.split(';')) {
    const segments: [number, number, number][] = [];
    let column = 0;
    for (const segment of lineText.split(',')) {
      if (!segment) continue;
      const [dColumn = 0, dSource, dLine] = decodeVlq(segment);
      column += dColumn;
      if (dSource === undefined || dLine === undefined) continue;
      source += dSource;
      originalLine += dLine;
      segments.push([column, source, originalLine]);
    }
    lines.push(segments);
  }
  return (line, column) => {
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
  };
}
