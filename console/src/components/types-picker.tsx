/** Type patterns with the wildcard rules spelled out, suggesting the types the tenant already has. */
import { useId, useState } from 'react';

const PATTERN = /^(\*\*|\*|[A-Za-z0-9_-]+)(\.(\*\*|\*|[A-Za-z0-9_-]+))*$/;

export function TypesPicker({ value, onChange, known }: { value: string[]; onChange: (types: string[]) => void; known: string[] }) {
  const [draft, setDraft] = useState('');
  const list = useId();
  const help = useId();
  const valid = PATTERN.test(draft.trim());
  const add = () => {
    const t = draft.trim();
    if (!t || !PATTERN.test(t) || value.includes(t)) return;
    onChange([...value, t]);
    setDraft('');
  };
  return (
    <fieldset className="types-picker">
      <legend>Event types</legend>
      <ul className="chips" aria-label="Chosen types">
        {value.map((t) => (
          <li key={t}>
            <code>{t}</code>
            <button type="button" className="link" aria-label={`Remove ${t}`} onClick={() => onChange(value.filter((x) => x !== t))}>
              ×
            </button>
          </li>
        ))}
        {value.length === 0 ? <li className="muted">none yet</li> : null}
      </ul>
      <div className="row">
        <label>
          Add a type or pattern
          <input
            list={list}
            value={draft}
            aria-describedby={help}
            aria-invalid={draft !== '' && !valid}
            onChange={(e) => setDraft(e.target.value)}
            onKeyDown={(e) => {
              if (e.key === 'Enter') {
                e.preventDefault();
                add();
              }
            }}
            placeholder="orders.*"
          />
        </label>
        <button type="button" onClick={add} disabled={!valid}>
          Add
        </button>
      </div>
      <datalist id={list}>
        {['**', ...known].map((t) => (
          <option key={t} value={t} />
        ))}
      </datalist>
      <p id={help} className="muted small">
        Types are dot-separated segments. <code>*</code> matches exactly one segment (<code>orders.*</code> matches <code>orders.created</code>, not{' '}
        <code>orders.eu.created</code>); <code>**</code> matches any number of segments (<code>orders.**</code>, or <code>**</code> for every event). System
        events (<code>switchyard.…</code>) match only patterns that name <code>switchyard.</code>.
      </p>
    </fieldset>
  );
}
