/** Small pieces every screen uses: times, copyable ids, status badges, headline figures, the loading/empty/error states. */
import { type ReactNode, useState } from 'react';
import { ApiError } from '../lib/api';
import type { Resource } from '../lib/use-resource';

const LOCAL = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

/** A time in the viewer's zone; the exact UTC instant on hover. */
export function Time({ at }: { at: string | null | undefined }) {
  if (!at) return <span className="muted">—</span>;
  const date = new Date(at);
  if (Number.isNaN(date.getTime())) return <span>{at}</span>;
  return (
    <time dateTime={date.toISOString()} title={`${date.toISOString().replace('T', ' ').replace('Z', ' UTC')}`}>
      {LOCAL.format(date)}
    </time>
  );
}

export function CopyText({ text, label = 'Copy' }: { text: string; label?: string }) {
  const [copied, setCopied] = useState(false);
  const copy = () => {
    void navigator.clipboard?.writeText(text).then(
      () => {
        setCopied(true);
        setTimeout(() => setCopied(false), 1500);
      },
      () => {},
    );
  };
  return (
    <button type="button" className="copy" onClick={copy} aria-label={`${label}: ${text.length > 40 ? `${text.slice(0, 40)}…` : text}`}>
      {copied ? 'Copied' : label}
    </button>
  );
}

/** An id in monospace with a copy button. */
export function Id({ id }: { id: string }) {
  return (
    <span className="id">
      <code>{id}</code>
      <CopyText text={id} />
    </span>
  );
}

export function Status({ status }: { status: string }) {
  return <span className={`badge badge-${status}`}>{status}</span>;
}

export function Loading({ what = 'Loading' }: { what?: string }) {
  return (
    <p className="state loading" role="status" aria-live="polite">
      {what}…
    </p>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <div className="state empty">{children}</div>;
}

/** An API problem as a person reads it: the `detail`, the code, the field errors. */
export function ErrorBox({ error, onRetry }: { error: Error; onRetry?: () => void }) {
  const problem = error instanceof ApiError ? error.problem : null;
  return (
    <div className="state error" role="alert">
      <strong>{problem?.title ?? 'Something went wrong'}</strong>
      <p>{problem?.detail ?? error.message}</p>
      {problem?.errors?.length ? (
        <ul>
          {problem.errors.map((e) => (
            <li key={`${e.pointer}:${e.detail}`}>
              <code>{e.pointer || '/'}</code> {e.detail}
            </li>
          ))}
        </ul>
      ) : null}
      {problem?.code ? <p className="muted small">code: {problem.code}</p> : null}
      {onRetry ? (
        <button type="button" onClick={onRetry}>
          Try again
        </button>
      ) : null}
    </div>
  );
}

/** Renders a resource's loading and error states, and `children(data)` once it is there. */
export function Loaded<T>({ resource, children, what }: { resource: Resource<T>; children: (data: T) => ReactNode; what?: string }) {
  if (resource.status === 'loading') return <Loading what={what} />;
  if (resource.status === 'error') return <ErrorBox error={resource.error} onRetry={resource.reload} />;
  return <>{children(resource.data)}</>;
}

export function PageHeader({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <header className="page-header">
      <h1>{title}</h1>
      {children ? <div className="actions">{children}</div> : null}
    </header>
  );
}

/** A headline figure with its label; `title` explains on hover what it counts. */
export function Stat({ label, value, title }: { label: string; value: string | number; title?: string }) {
  return (
    <div className="stat" title={title}>
      <span className="stat-value">{value}</span>
      <span className="stat-label">{label}</span>
    </div>
  );
}

/** A duration in whole milliseconds; a dash when there is none. */
export const milliseconds = (ms: number | null) => (ms === null ? '—' : `${Math.round(ms)} ms`);

/** A ratio of 0–1 as a percentage to one decimal; a dash when there is none. */
export const percent = (ratio: number | null) => (ratio === null ? '—' : `${(ratio * 100).toFixed(1)} %`);
