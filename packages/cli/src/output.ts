/** Human and machine output: one JSON document (or NDJSON lines for streams) with `--json`. */

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

export function printLine(line = ''): void {
  process.stdout.write(`${line}\n`);
}

/** Diagnostics go to stderr so stdout stays parseable. */
export function note(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** `HH:MM:SS` in local time, as the stream lines show it. */
export function clock(date = new Date()): string {
  return [date.getHours(), date.getMinutes(), date.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
}

/** A left-aligned table; columns separated by two spaces, missing values as `-`. */
export function printTable(headers: string[], rows: (string | number | boolean | null | undefined)[][]): void {
  const cells = [headers, ...rows.map((row) => row.map((cell) => (cell === null || cell === undefined || cell === '' ? '-' : String(cell))))];
  const widths = headers.map((_, i) => Math.max(...cells.map((row) => (row[i] ?? '').length)));
  for (const row of cells) printLine(row.map((cell, i) => (i === row.length - 1 ? cell : (cell ?? '').padEnd(widths[i]!))).join('  '));
}

export function printNextCursor(cursor: string | null | undefined): void {
  if (cursor) note(`more: --cursor ${cursor}`);
}
