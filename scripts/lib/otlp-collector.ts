/**
 * A local OTLP/HTTP trace receiver for tests: accepts `POST /v1/traces` with a JSON
 * `ExportTraceServiceRequest`, keeps every span with its resource's `service.name` and the request's
 * headers, and answers 200 `{}` as a collector does (415 for protobuf, which Switchyard never sends).
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';

export interface CollectedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: { key: string; value: Record<string, unknown> }[];
  status?: { code?: number; message?: string };
  service: string | undefined;
  headers: IncomingHttpHeaders;
}

interface ExportRequest {
  resourceSpans?: {
    resource?: { attributes?: { key: string; value: { stringValue?: string } }[] };
    scopeSpans?: { spans?: Omit<CollectedSpan, 'service' | 'headers'>[] }[];
  }[];
}

export interface Collector {
  url: string;
  spans: CollectedSpan[];
  /** While set, every export is answered with this status and its spans are dropped (a collector in trouble). */
  failWith: number | null;
  /** Exports refused while `failWith` was set. */
  refused: number;
  close(): Promise<void>;
}

/** One attribute's value as plain JS (`intValue` comes as a string in OTLP JSON). */
export function attribute(span: CollectedSpan, key: string): string | number | boolean | undefined {
  const value = span.attributes.find((a) => a.key === key)?.value;
  if (!value) return undefined;
  if ('intValue' in value) return Number(value.intValue);
  return (value.stringValue ?? value.boolValue ?? value.doubleValue) as string | number | boolean | undefined;
}

export async function startCollector(): Promise<Collector> {
  const spans: CollectedSpan[] = [];
  const state = { failWith: null as number | null, refused: 0 };
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') return void res.writeHead(404).end();
      if (!req.headers['content-type']?.startsWith('application/json')) return void res.writeHead(415).end();
      if (state.failWith !== null) {
        state.refused++;
        return void res.writeHead(state.failWith).end();
      }
      const request = JSON.parse(body) as ExportRequest;
      for (const resource of request.resourceSpans ?? []) {
        const service = resource.resource?.attributes?.find((a) => a.key === 'service.name')?.value.stringValue;
        for (const scope of resource.scopeSpans ?? []) for (const span of scope.spans ?? []) spans.push({ ...span, service, headers: req.headers });
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    spans,
    get failWith() {
      return state.failWith;
    },
    set failWith(status: number | null) {
      state.failWith = status;
    },
    get refused() {
      return state.refused;
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
