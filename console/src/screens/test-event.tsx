/**
 * "Send test event": a CloudEvent signed in the browser with a source's secret (Standard Webhooks) and
 * sent to that source's ingest URL, so it travels the same path as a producer's events. The secret is
 * known when this tab created or rotated the source; otherwise it is pasted.
 */
import { type FormEvent, useEffect, useState } from 'react';
import { ErrorBox } from '../components/bits';
import { api, type components, ok } from '../lib/api';
import { Link } from '../lib/router';
import { exampleData } from '../lib/example-data';
import { can, canSecrets } from '../lib/session';
import { useSession } from '../lib/session-context';
import { knownSourceSecrets, rememberSourceSecret, signStandardWebhook } from '../lib/sign';
import { useResource } from '../lib/use-resource';

type Subscription = components['schemas']['Subscription'];

/** A concrete type the subscription's first pattern matches (`orders.*` → `orders.test`). */
export function exampleType(patterns: string[]): string {
  const first = patterns.find((p) => !p.startsWith('switchyard.')) ?? 'console.test';
  const concrete = first.replaceAll('**', 'test').replaceAll('*', 'test');
  return concrete || 'console.test';
}

export function TestEvent({ tenant, subscription, onSent }: { tenant: string; subscription: Subscription; onSent: () => void }) {
  const session = useSession();
  const sources = useResource(
    () =>
      can(session, 'sources', 'read')
        ? ok(api().GET('/v1/tenants/{tenantId}/sources', { params: { path: { tenantId: tenant }, query: { limit: 100 } } })).then((p) =>
            p.data.filter((s) => s.verifier.type === 'standard-webhooks'),
          )
        : Promise.resolve([]),
    [tenant],
  );
  const [known, setKnown] = useState(knownSourceSecrets);
  const [open, setOpen] = useState(false);
  const [sourceId, setSourceId] = useState('');
  const [secret, setSecret] = useState('');
  const [type, setType] = useState(exampleType(subscription.types));
  const [data, setData] = useState('{\n  "hello": "from the Switchyard console"\n}');
  const [dataFrom, setDataFrom] = useState<string | null>(null);
  // the example follows the type: its schema's example, or its last event's data
  useEffect(() => {
    if (!open || !type) return;
    let current = true;
    const timer = setTimeout(() => {
      void exampleData(session, tenant, type).then((example) => {
        if (!current) return;
        setData(JSON.stringify(example.data, null, 2));
        setDataFrom(example.from);
      });
    }, 300);
    return () => {
      current = false;
      clearTimeout(timer);
    };
  }, [open, type, tenant, session]);
  const [error, setError] = useState<Error | null>(null);
  const [sent, setSent] = useState<{ id: string; sequence: number } | null>(null);
  const chosen = sourceId || sources.data?.find((s) => known[s.id])?.id || sources.data?.[0]?.id || '';
  const key = secret || known[chosen] || '';

  const rotateAndUse = async () => {
    setError(null);
    try {
      const rotated = await ok(
        api().POST('/v1/tenants/{tenantId}/sources/{sourceId}/rotate-secret', { params: { path: { tenantId: tenant, sourceId: chosen } }, body: {} }),
      );
      rememberSourceSecret(chosen, rotated.secret);
      setKnown(knownSourceSecrets());
    } catch (err) {
      setError(err as Error);
    }
  };

  const send = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    setSent(null);
    try {
      const id = `console-test-${crypto.randomUUID()}`;
      const body = JSON.stringify({ specversion: '1.0', id, source: 'switchyard/console', type, time: new Date().toISOString(), data: JSON.parse(data) });
      const headers = { 'content-type': 'application/cloudevents+json', ...(await signStandardWebhook(key, `msg_${id}`, body)) };
      const accepted = await ok(
        api().POST('/v1/ingest/{sourceId}', {
          params: { path: { sourceId: chosen } },
          headers,
          body: body as never,
          bodySerializer: (b) => b as unknown as string,
        }),
      );
      if ('id' in accepted) setSent({ id: accepted.id, sequence: accepted.sequence });
      onSent();
    } catch (err) {
      setError(err as Error);
    }
  };

  if (!open)
    return (
      <button type="button" onClick={() => setOpen(true)}>
        Send test event
      </button>
    );
  return (
    <form className="panel form" onSubmit={send} aria-label="Send test event">
      <h2>Send a test event</h2>
      {sources.status === 'loading' ? (
        // no source chosen yet: signing or rotating now would name none
        <p className="muted">Loading the tenant's sources…</p>
      ) : sources.status === 'ready' && sources.data.length === 0 ? (
        <p>
          A test event is sent through one of the tenant's Standard Webhooks sources; <Link to={`/tenants/${tenant}/sources`}>create a source</Link> first.
        </p>
      ) : (
        <>
          <label>
            Through source
            <select value={chosen} onChange={(e) => setSourceId(e.target.value)}>
              {(sources.data ?? []).map((s) => (
                <option key={s.id} value={s.id}>
                  {s.name} ({s.id})
                </option>
              ))}
            </select>
          </label>
          {known[chosen] ? (
            <p className="muted small">Signed with the secret this tab saw when the source was created or rotated.</p>
          ) : (
            <>
              <label>
                The source's signing secret
                <input value={secret} onChange={(e) => setSecret(e.target.value)} placeholder="whsec_…" required autoComplete="off" />
              </label>
              {canSecrets(session) ? (
                <p className="small">
                  Not at hand?{' '}
                  <button type="button" className="link" onClick={rotateAndUse}>
                    Rotate the source's secret and use the new one
                  </button>{' '}
                  <span className="muted">(its current secret keeps verifying for 24 hours, so producers have time to switch)</span>
                </p>
              ) : null}
            </>
          )}
          <label>
            Type
            <input value={type} onChange={(e) => setType(e.target.value)} required />
          </label>
          <label>
            Data (JSON)
            <textarea className="code" rows={6} spellCheck={false} value={data} onChange={(e) => setData(e.target.value)} />
          </label>
          {dataFrom ? <p className="muted small">Prefilled with {dataFrom}.</p> : null}
          <div className="row">
            <button type="submit" className="primary" disabled={!chosen || !key}>
              Send
            </button>
            <button type="button" onClick={() => setOpen(false)}>
              Close
            </button>
          </div>
        </>
      )}
      {error ? <ErrorBox error={error} /> : null}
      {sent ? (
        <p role="status">
          Accepted as event <Link to={`/tenants/${tenant}/events/${sent.id}`}>#{sent.sequence}</Link>. Its delivery appears below in a moment.
        </p>
      ) : null}
    </form>
  );
}
