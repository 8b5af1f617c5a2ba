/**
 * JSON with syntax highlighting, written as plain spans (no library): keys, strings, numbers, literals.
 * Long documents start collapsed to their first lines with a button to show everything.
 */
import { type ReactNode, useState } from 'react';

const COLLAPSE_AFTER_LINES = 24;

export function JsonView({ value, label = 'JSON' }: { value: unknown; label?: string }) {
  const text = JSON.stringify(value, null, 2) ?? 'undefined';
  const lines = text.split('\n');
  const long = lines.length > COLLAPSE_AFTER_LINES;
  const [open, setOpen] = useState(!long);
  const shown = open ? text : lines.slice(0, COLLAPSE_AFTER_LINES).join('\n');
  return (
    <div className="json">
      {/* biome-ignore lint/a11y/noNoninteractiveTabindex: a scrollable region must be reachable by keyboard (axe scrollable-region-focusable) */}
      <section className="json-box" aria-label={label} tabIndex={0}>
        <pre>
          {highlight(shown)}
          {!open ? <span className="json-more">{'\n'}…</span> : null}
        </pre>
      </section>
      {long ? (
        <button type="button" className="link" onClick={() => setOpen(!open)} aria-expanded={open}>
          {open ? 'Collapse' : `Show all ${lines.length} lines`}
        </button>
      ) : null}
    </div>
  );
}

const TOKEN = /("(?:\\.|[^"\\])*")(\s*:)?|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|\b(true|false|null)\b/g;

function highlight(text: string): ReactNode[] {
  const out: ReactNode[] = [];
  let last = 0;
  for (const m of text.matchAll(TOKEN)) {
    const at = m.index ?? 0;
    if (at > last) out.push(text.slice(last, at));
    if (m[1] !== undefined) {
      out.push(
        <span key={at} className={m[2] ? 'json-key' : 'json-string'}>
          {m[1]}
        </span>,
      );
      if (m[2]) out.push(m[2]);
    } else if (m[3] !== undefined) {
      out.push(
        <span key={at} className="json-number">
          {m[3]}
        </span>,
      );
    } else {
      out.push(
        <span key={at} className="json-literal">
          {m[4]}
        </span>,
      );
    }
    last = at + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

/** A long text (a response body) collapsed to its start, with a toggle. */
export function LongText({ text, label }: { text: string; label: string }) {
  const long = text.length > 600 || text.split('\n').length > 12;
  const [open, setOpen] = useState(!long);
  let pretty = text;
  try {
    pretty = JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    // not JSON: shown as sent
  }
  return (
    <div className="json">
      {/* biome-ignore lint/a11y/noNoninteractiveTabindex: a scrollable region must be reachable by keyboard (axe scrollable-region-focusable) */}
      <section className="json-box" aria-label={label} tabIndex={0}>
        <pre>{open ? pretty : `${pretty.slice(0, 600)}…`}</pre>
      </section>
      {long ? (
        <button type="button" className="link" onClick={() => setOpen(!open)} aria-expanded={open}>
          {open ? 'Collapse' : 'Show all'}
        </button>
      ) : null}
    </div>
  );
}
