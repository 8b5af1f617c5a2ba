/**
 * The `where` filter as JSON (Mongo-style operators over the CloudEvent), with a "try it" against a
 * recent stored event that asks the server's own matcher (lib/try-where.ts). The API validates on save.
 */
import { useId, useState } from 'react';
import { api, ok } from '../lib/api';
import { tryWhere } from '../lib/try-where';
import { can } from '../lib/session';
import { useSession } from '../lib/session-context';
import { useResource } from '../lib/use-resource';
import { ErrorBox } from './bits';

export function WhereEditor({
  tenant,
  types,
  value,
  onChange,
}: {
  tenant: string;
  types: string[];
  value: Record<string, unknown> | null;
  onChange: (where: Record<string, unknown> | null, valid: boolean) => void;
}) {
  const session = useSession();
  const [text, setText] = useState(value ? JSON.stringify(value, null, 2) : '');
  const [problem, setProblem] = useState<string | null>(null);
  const [parsed, setParsed] = useState(value);
  const [sample, setSample] = useState('');
  const [verdict, setVerdict] = useState<{ matched: boolean; event: string } | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const help = useId();
  const recent = useResource(
    () =>
      can(session, 'events', 'read')
        ? ok(
            api().GET('/v1/tenants/{tenantId}/events', {
              params: { path: { tenantId: tenant }, query: { after: new Date(Date.now() - 7 * 86_400_000).toISOString(), limit: 100 } },
            }),
          ).then((page) => page.data.slice(-20).reverse())
        : Promise.resolve([]),
    [tenant],
  );
  const change = (next: string) => {
    setText(next);
    setVerdict(null);
    if (!next.trim()) {
      setProblem(null);
      setParsed(null);
      onChange(null, true);
      return;
    }
    try {
      const value: unknown = JSON.parse(next);
      if (!value || typeof value !== 'object' || Array.isArray(value)) throw new Error('the filter is a JSON object');
      setProblem(null);
      setParsed(value as Record<string, unknown>);
      onChange(value as Record<string, unknown>, true);
    } catch (err) {
      setProblem((err as Error).message);
      onChange(null, false);
    }
  };
  const chosen = recent.data?.find((e) => e.id === sample) ?? recent.data?.[0];
  const attempt = async () => {
    if (!chosen) return;
    setError(null);
    setVerdict(null);
    try {
      setVerdict({ matched: await tryWhere(tenant, types, parsed, chosen.sequence), event: `#${chosen.sequence} ${chosen.type}` });
    } catch (err) {
      setError(err as Error);
    }
  };
  return (
    <div className="where-editor">
      <label>
        Filter (<code>where</code>, optional)
        <textarea
          rows={5}
          className="code"
          spellCheck={false}
          value={text}
          aria-describedby={help}
          aria-invalid={problem !== null}
          onChange={(e) => change(e.target.value)}
          placeholder={'{ "data.amount": { "$gt": 100 }, "subject": { "$startsWith": "order/" } }'}
        />
      </label>
      {problem ? (
        <p className="field-error" role="alert">
          Not valid JSON: {problem}
        </p>
      ) : null}
      <p id={help} className="muted small">
        Paths over the CloudEvent (<code>data.amount</code>, <code>subject</code>, <code>type</code>) with{' '}
        <code>$eq $ne $in $nin $gt $gte $lt $lte $exists $contains $startsWith $endsWith</code>, combined with <code>$and $or $not</code>. Empty: every event of
        the chosen types.
      </p>
      {recent.data?.length ? (
        <div className="row">
          <label className="inline">
            Try on
            <select value={chosen?.id ?? ''} onChange={(e) => (setSample(e.target.value), setVerdict(null))}>
              {recent.data.map((e) => (
                <option key={e.id} value={e.id}>
                  #{e.sequence} {e.type}
                  {e.subject ? ` (${e.subject})` : ''}
                </option>
              ))}
            </select>
          </label>
          <button type="button" onClick={attempt} disabled={problem !== null}>
            Try filter
          </button>
          {verdict ? (
            <span role="status" className={verdict.matched ? 'badge badge-delivered' : 'badge badge-failed'}>
              {verdict.matched ? `${verdict.event} matches: it would be delivered` : `${verdict.event} does not match`}
            </span>
          ) : null}
        </div>
      ) : null}
      {error ? <ErrorBox error={error} /> : null}
    </div>
  );
}
