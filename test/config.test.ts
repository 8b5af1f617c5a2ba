import { env } from 'cloudflare:workers';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { checkConfig, configOf } from '../src/config';
import { createApp } from '../src/http/app';

const DEFAULTS = {
  neonWsProxy: undefined,
  egressAllowlist: [],
  retryScale: 1,
  redisTimeoutMs: 250,
  redriveAfterSeconds: 300,
  redis: null,
  authJwks: null,
  portalFrameAncestors: "'self'",
  otlp: null,
  retentionDefaults: { events: 30, deliveries: 30, audit: 365 },
};

afterEach(() => {
  vi.restoreAllMocks();
});

describe('settings parsed once (src/config.ts)', () => {
  it('gives the defaults when a setting is unset or empty', () => {
    expect(configOf({})).toEqual(DEFAULTS);
    const empty = {
      NEON_WS_PROXY: '',
      EGRESS_ALLOWLIST: ' ',
      RETRY_SCALE: '',
      REDIS_TIMEOUT_MS: '',
      REDRIVE_AFTER_SECONDS: '',
      UPSTASH_REDIS_REST_URL: '',
      UPSTASH_REDIS_REST_TOKEN: '',
      AUTH_JWKS_URL: '',
      AUTH_JWKS_ISSUER: '',
      AUTH_JWKS_AUDIENCE: '',
      PORTAL_FRAME_ANCESTORS: '',
      OTEL_EXPORTER_OTLP_ENDPOINT: '',
      OTEL_EXPORTER_OTLP_HEADERS: '',
      OTEL_SERVICE_NAME: '',
      RETENTION_EVENTS_DAYS: '',
      RETENTION_DELIVERIES_DAYS: '',
      RETENTION_AUDIT_DAYS: '',
    };
    expect(configOf(empty)).toEqual(DEFAULTS);
  });

  it('reads every setting when it is set', () => {
    expect(
      configOf({
        NEON_WS_PROXY: '127.0.0.1:5433/v2',
        EGRESS_ALLOWLIST: '127.1:9000, LOCALHOST',
        RETRY_SCALE: '0.5',
        REDIS_TIMEOUT_MS: '1000',
        REDRIVE_AFTER_SECONDS: '20',
        UPSTASH_REDIS_REST_URL: 'https://eu1.upstash.io',
        UPSTASH_REDIS_REST_TOKEN: 'token',
        AUTH_JWKS_URL: 'https://idp.example/.well-known/jwks.json',
        AUTH_JWKS_ISSUER: 'https://idp.example',
        PORTAL_FRAME_ANCESTORS: "'self' https://app.example.com",
        OTEL_EXPORTER_OTLP_ENDPOINT: 'https://otlp.example.com',
        OTEL_EXPORTER_OTLP_HEADERS: 'x-key=abc',
        OTEL_SERVICE_NAME: 'edge',
        RETENTION_EVENTS_DAYS: '7',
        RETENTION_DELIVERIES_DAYS: '14',
        RETENTION_AUDIT_DAYS: '3650',
      }),
    ).toEqual({
      neonWsProxy: '127.0.0.1:5433/v2',
      egressAllowlist: ['127.0.0.1:9000', 'localhost'],
      retryScale: 0.5,
      redisTimeoutMs: 1000,
      redriveAfterSeconds: 20,
      redis: { url: 'https://eu1.upstash.io', token: 'token' },
      authJwks: { url: 'https://idp.example/.well-known/jwks.json', issuer: 'https://idp.example', audience: undefined },
      portalFrameAncestors: "'self' https://app.example.com",
      otlp: { tracesUrl: 'https://otlp.example.com/v1/traces', headers: { 'x-key': 'abc' }, serviceName: 'edge' },
      retentionDefaults: { events: 7, deliveries: 14, audit: 3650 },
    });
  });

  it('parses an env object once and hands back the same settings after that', () => {
    const vars = { REDIS_TIMEOUT_MS: '400' };
    const first = configOf(vars);
    vars.REDIS_TIMEOUT_MS = '900';
    expect(configOf(vars)).toBe(first);
    expect(configOf(vars).redisTimeoutMs).toBe(400);
  });

  it("takes the test config's bindings over wrangler.toml [vars], and [vars] where they set nothing", () => {
    const config = configOf(env);
    expect(config.redisTimeoutMs).toBe(1000);
    expect(config.egressAllowlist.length).toBeGreaterThan(0);
    expect(config.authJwks).toMatchObject({ issuer: 'https://idp.switchyard.test', audience: undefined });
    expect(config.redriveAfterSeconds).toBe(300);
  });

  it('throws naming each malformed setting, secrets unechoed, and logs it once per env', () => {
    const logged = vi.spyOn(console, 'error').mockImplementation(() => {});
    const vars = {
      RETRY_SCALE: 'fast',
      REDIS_TIMEOUT_MS: '-5',
      REDRIVE_AFTER_SECONDS: '0',
      EGRESS_ALLOWLIST: 'http://127.0.0.1:9000',
      AUTH_JWKS_URL: 'not a url',
      UPSTASH_REDIS_REST_URL: 'ftp://hunter2@redis.example',
      RETENTION_EVENTS_DAYS: '0',
      RETENTION_AUDIT_DAYS: '1.5',
    };
    for (let i = 0; i < 2; i++) expect(() => configOf(vars)).toThrow(/^invalid settings: /);
    const message = (() => {
      try {
        configOf(vars);
        return '';
      } catch (error) {
        return String(error);
      }
    })();
    for (const part of [
      'RETRY_SCALE: expected a positive number of times the schedule (got "fast")',
      'REDIS_TIMEOUT_MS: expected a positive number of milliseconds (got "-5")',
      'REDRIVE_AFTER_SECONDS: expected a positive number of seconds (got "0")',
      'EGRESS_ALLOWLIST: "http://127.0.0.1:9000" is not host or host:port',
      'AUTH_JWKS_URL: expected an http(s) URL (got "not a url")',
      'UPSTASH_REDIS_REST_URL: expected an http(s) URL',
      'RETENTION_EVENTS_DAYS: expected whole days from 1 to 3650 (got "0")',
      'RETENTION_AUDIT_DAYS: expected whole days from 1 to 3650 (got "1.5")',
    ]) {
      expect(message).toContain(part);
    }
    expect(message).not.toContain('hunter2');
    expect(() => checkConfig(vars)).toThrow(/RETRY_SCALE/);
    expect(logged).toHaveBeenCalledTimes(1);
    expect(String(logged.mock.calls[0]?.[0])).toContain('invalid configuration');
  });

  it('answers every request 500 and logs the setting when one is malformed', async () => {
    const logged = vi.spyOn(console, 'error').mockImplementation(() => {});
    const res = await createApp().request('/healthz', {}, { ...env, REDIS_TIMEOUT_MS: 'soon' });
    expect(res.status).toBe(500);
    expect(await res.json()).toMatchObject({ code: 'internal_error' });
    expect(logged.mock.calls.map((call) => String(call[0])).join('\n')).toContain('REDIS_TIMEOUT_MS');
  });
});
