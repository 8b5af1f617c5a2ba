/**
 * A form generated from a plugin type's config JSON Schema (the catalog's `config_schema`): strings,
 * numbers, booleans and enums get inputs; anything else (objects, arrays) is edited as JSON.
 */
import { useId } from 'react';

type JsonSchema = {
  type?: string | string[];
  enum?: unknown[];
  description?: string;
  default?: unknown;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  writeOnly?: boolean;
};

export function SchemaForm({
  schema,
  value,
  onChange,
}: {
  schema: JsonSchema;
  value: Record<string, unknown>;
  onChange: (v: Record<string, unknown>) => void;
}) {
  const base = useId();
  const properties = Object.entries(schema.properties ?? {});
  if (properties.length === 0) return <p className="muted small">This plugin type takes no configuration.</p>;
  const set = (key: string, v: unknown) => {
    const next = { ...value };
    if (v === undefined || v === '') delete next[key];
    else next[key] = v;
    onChange(next);
  };
  return (
    <div className="schema-form">
      {properties.map(([key, prop]) => {
        const type = Array.isArray(prop.type) ? prop.type.find((t) => t !== 'null') : prop.type;
        const required = schema.required?.includes(key) ?? false;
        const id = `${base}-${key}`;
        const current = value[key];
        const label = (
          <>
            <code>{key}</code>
            {required ? ' (required)' : ''}
            {prop.description ? <span className="muted small"> — {prop.description}</span> : null}
          </>
        );
        if (prop.enum) {
          return (
            <label key={key} htmlFor={id}>
              {label}
              <select
                id={id}
                value={current === undefined ? '' : String(current)}
                onChange={(e) =>
                  set(
                    key,
                    prop.enum!.find((x) => String(x) === e.target.value),
                  )
                }
              >
                <option value="">{prop.default !== undefined ? `default (${String(prop.default)})` : '—'}</option>
                {prop.enum.map((x) => (
                  <option key={String(x)} value={String(x)}>
                    {String(x)}
                  </option>
                ))}
              </select>
            </label>
          );
        }
        if (type === 'boolean') {
          return (
            <label key={key} className="check" htmlFor={id}>
              <input
                id={id}
                type="checkbox"
                checked={current === undefined ? prop.default === true : current === true}
                onChange={(e) => set(key, e.target.checked)}
              />
              {label}
            </label>
          );
        }
        if (type === 'string' || type === 'number' || type === 'integer') {
          const long = type === 'string' && /source|script|code|template/i.test(key);
          return (
            <label key={key} htmlFor={id}>
              {label}
              {long ? (
                <textarea
                  id={id}
                  className="code"
                  rows={10}
                  spellCheck={false}
                  value={typeof current === 'string' ? current : ''}
                  onChange={(e) => set(key, e.target.value)}
                />
              ) : (
                <input
                  id={id}
                  type={type === 'string' ? (prop.writeOnly ? 'password' : 'text') : 'number'}
                  value={current === undefined ? '' : String(current)}
                  placeholder={prop.default !== undefined ? String(prop.default) : ''}
                  onChange={(e) => set(key, type === 'string' ? e.target.value : e.target.value === '' ? undefined : Number(e.target.value))}
                />
              )}
            </label>
          );
        }
        return <JsonField key={key} id={id} label={label} value={current} onChange={(v) => set(key, v)} />;
      })}
    </div>
  );
}

function JsonField({ id, label, value, onChange }: { id: string; label: React.ReactNode; value: unknown; onChange: (v: unknown) => void }) {
  return (
    <label htmlFor={id}>
      {label} <span className="muted small">(JSON)</span>
      <textarea
        id={id}
        className="code"
        rows={3}
        spellCheck={false}
        defaultValue={value === undefined ? '' : JSON.stringify(value, null, 2)}
        onBlur={(e) => {
          try {
            onChange(e.target.value.trim() ? JSON.parse(e.target.value) : undefined);
          } catch {
            // kept as typed; the API names the field when it is saved
          }
        }}
      />
    </label>
  );
}
