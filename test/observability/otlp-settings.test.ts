import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { describe, expect, it, vi } from 'vitest';
import { configOf, parseOtlpHeaders } from '../../src/config';
import { renderExposition } from '../../src/observability/exposition';
import { exportSpans, otlpPayload, SpanKind, type Span } from '../../src/observability/spans';

const span = (overrides: Partial<Span> = {}): Span => ({
  traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
  spanId: '00f067aa0ba902b7',
  parentSpanId: null,
  name: 'ingest',
  kind: SpanKind.server,
  startMs: 1_700_000_000_000,
  endMs: 1_700_000_000_012,
  attributes: { 'switchyard.tenant': 'tn_1', 'http.response.status_code': 202, skipped: undefined },
  ...overrides,
});

describe('OTLP settings', () => {
  it('exports nothing when OTEL_EXPORTER_OTLP_ENDPOINT is unset', () => {
    expect(configOf({}).otlp).toBeNull();
    expect(configOf({ OTEL_EXPORTER_OTLP_ENDPOINT: '', OTEL_SERVICE_NAME: 'x' }).otlp).toBeNull();
  });

  it('sends to <endpoint>/v1/traces with the decoded headers and the service name', () => {
    expect(
      configOf({ OTEL_EXPORTER_OTLP_ENDPOINT: 'https://otlp.example.com/', OTEL_EXPORTER_OTLP_HEADERS: 'Authorization=Bearer%20abc, x-team=ops' }).otlp,
    ).toEqual({
      tracesUrl: 'https://otlp.example.com/v1/traces',
      headers: { authorization: 'Bearer abc', 'x-team': 'ops' },
      serviceName: 'switchyard',
    });
    expect(configOf({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', OTEL_SERVICE_NAME: 'edge' }).otlp?.serviceName).toBe('edge');
  });

  it('refuses malformed headers and endpoints by name, without echoing the headers', () => {
    for (const bad of ['novalue', '=x', 'a b=c', 'x=%E0%A4%A', 'x=a%0Ab']) expect(() => parseOtlpHeaders(bad), bad).toThrow(/OTEL_EXPORTER_OTLP_HEADERS/);
    expect(() => configOf({ OTEL_EXPORTER_OTLP_HEADERS: 'secret-token' })).toThrow(/^invalid settings: OTEL_EXPORTER_OTLP_HEADERS: [^(]*$/);
    expect(() => configOf({ OTEL_EXPORTER_OTLP_ENDPOINT: 'grpc://collector:4317' })).toThrow(/OTEL_EXPORTER_OTLP_ENDPOINT/);
  });
});

describe('OTLP payload', () => {
  it('writes OTLP/HTTP JSON: hex ids, nanosecond times as strings, typed attributes, status', () => {
    const payload = otlpPayload([span(), span({ name: 'append', spanId: '1111111111111111', parentSpanId: '00f067aa0ba902b7', error: 'timed out' })], 'svc');
    expect(payload).toEqual({
      resourceSpans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'svc' } }] },
          scopeSpans: [
            {
              scope: { name: 'switchyard' },
              spans: [
                expect.objectContaining({
                  traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
                  spanId: '00f067aa0ba902b7',
                  name: 'ingest',
                  kind: 2,
                  startTimeUnixNano: '1700000000000000000',
                  endTimeUnixNano: '1700000000012000000',
                  attributes: [
                    { key: 'switchyard.tenant', value: { stringValue: 'tn_1' } },
                    { key: 'http.response.status_code', value: { intValue: '202' } },
                  ],
                  status: { code: 1 },
                }),
                expect.objectContaining({ parentSpanId: '00f067aa0ba902b7', status: { code: 2, message: 'timed out' } }),
              ],
            },
          ],
        },
      ],
    });
  });

  it('resolves and logs once when the collector cannot be reached', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const unreachable = { tracesUrl: 'http://127.0.0.1:9/v1/traces', headers: {}, serviceName: 's' };
    try {
      await expect(exportSpans({ settings: unreachable, spans: [span()] })).resolves.toBeUndefined();
      await expect(exportSpans({ settings: unreachable, spans: [span()] })).resolves.toBeUndefined();
      expect(warn.mock.calls.filter(([line]) => String(line).includes('span export failed'))).toHaveLength(1);
    } finally {
      warn.mockRestore();
    }
  });
});

describe('Prometheus exposition', () => {
  it('escapes label values so a real parser reads them back', () => {
    const tenant = 'tn_"odd"\\name\nline';
    const text = renderExposition([{ name: 'x_total', type: 'counter', help: 'a \\ help\nline', samples: [{ labels: { tenant }, value: 3 }] }], 'prometheus');
    const [family] = parsePrometheusTextFormat(text);
    expect(family).toEqual({ name: 'x_total', help: 'a \\ help\nline', type: 'COUNTER', metrics: [{ value: '3', labels: { tenant } }] });
  });
});
