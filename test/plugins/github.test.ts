import { describe, expect, it } from 'vitest';
import { github } from '../../plugins/github';
import { toHex, utf8 } from '../../src/lib/encoding';
import { toIngestEvent } from '../../src/ingest/envelope';
import { verifierFetch } from '../../src/delivery/verifier-egress';

const SECRET = 's3cr3t';
const DELIVERY = '72d3162e-cc78-11e3-81ab-4c9367dc0958';
const PR_BODY = '{"action":"opened","number":7,"pull_request":{"number":7},"repository":{"full_name":"octo-org/hello-world"}}';
// printf '%s' "$PR_BODY" | openssl dgst -sha256 -hmac s3cr3t
const PR_SIGNATURE = 'sha256=74e24ad73239c7c5237c3c5f60d00dda757c5af6aa7bd8d9084e83f878fa78ca';

/** Signs as GitHub documents it, independently of the plugin. */
async function sign(secret: string, body: string): Promise<string> {
  const key = await crypto.subtle.importKey('raw', utf8(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return `sha256=${toHex(new Uint8Array(await crypto.subtle.sign('HMAC', key, utf8(body))))}`;
}

function verify(headers: Record<string, string>, body: string, secrets: string[] = [SECRET]) {
  return github.verify({
    headers: new Headers(headers),
    body: utf8(body),
    config: {},
    secrets,
    now: Date.now(),
    signal: new AbortController().signal,
    fetch: verifierFetch([]),
  });
}

const headers = (event: string, signature: string, extra: Record<string, string> = {}) => ({
  'content-type': 'application/json',
  'x-github-event': event,
  'x-github-delivery': DELIVERY,
  'x-hub-signature-256': signature,
  ...extra,
});

describe('github verifier', () => {
  it('accepts the example delivery from the GitHub documentation when the secret matches', async () => {
    const documented = 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17';
    expect(await sign("It's a Secret to Everybody", 'Hello, World!')).toBe(documented);
    const result = await verify(headers('ping', documented, { 'content-type': 'text/plain' }), 'Hello, World!', ["It's a Secret to Everybody"]);
    expect(result).toMatchObject({ ok: true, scheme: 'sha256' });
  });

  it('wraps a pull request delivery into a github.pull_request.opened CloudEvent when the signature is valid', async () => {
    const result = await verify(headers('pull_request', PR_SIGNATURE), PR_BODY);
    expect(result).toEqual({
      ok: true,
      scheme: 'sha256',
      event: {
        specversion: '1.0',
        id: DELIVERY,
        source: 'https://github.com/octo-org/hello-world',
        type: 'github.pull_request.opened',
        subject: '7',
        datacontenttype: 'application/json',
        data: JSON.parse(PR_BODY),
      },
    });
    expect(result.ok && result.event && toIngestEvent(result.event).ok).toBe(true);
  });

  it('names a push github.push with the ref as subject when the payload has no action', async () => {
    const body = JSON.stringify({ ref: 'refs/heads/main', repository: { full_name: 'octo-org/hello-world' } });
    const result = await verify(headers('push', await sign(SECRET, body)), body);
    expect(result.ok && result.event).toMatchObject({ type: 'github.push', subject: 'refs/heads/main', source: 'https://github.com/octo-org/hello-world' });
  });

  it('falls back to https://github.com as source when the payload names no repository', async () => {
    const body = JSON.stringify({ zen: 'Design for failure.', hook_id: 1 });
    const result = await verify(headers('ping', await sign(SECRET, body)), body);
    expect(result.ok && result.event).toMatchObject({ type: 'github.ping', source: 'https://github.com' });
    expect(result.ok && result.event?.subject).toBeUndefined();
  });

  it('reads the payload field when the hook sends form-encoded bodies', async () => {
    const payload = { action: 'created', issue: { number: 12 }, repository: { full_name: 'octo-org/x' } };
    const body = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
    const result = await verify(headers('issue_comment', await sign(SECRET, body), { 'content-type': 'application/x-www-form-urlencoded' }), body);
    expect(result.ok && result.event).toMatchObject({ type: 'github.issue_comment.created', subject: '12', data: payload });
  });

  it('produces the same event when GitHub redelivers, so the delivery deduplicates', async () => {
    const first = await verify(headers('pull_request', PR_SIGNATURE), PR_BODY);
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(await verify(headers('pull_request', PR_SIGNATURE), PR_BODY)).toEqual(first);
  });

  it('rejects the delivery when one byte of the body changes', async () => {
    expect(await verify(headers('pull_request', PR_SIGNATURE), PR_BODY.replace('"number":7', '"number":8'))).toMatchObject({
      ok: false,
      code: 'invalid_signature',
    });
  });

  it('rejects the delivery when it was signed with another secret', async () => {
    expect(await verify(headers('pull_request', PR_SIGNATURE), PR_BODY, ['not-the-secret'])).toMatchObject({ ok: false, code: 'invalid_signature' });
  });

  it('accepts either secret while a rotation is in progress', async () => {
    expect(await verify(headers('pull_request', PR_SIGNATURE), PR_BODY, ['new-secret', SECRET])).toMatchObject({ ok: true });
  });

  it('refuses the legacy sha1 header and malformed signatures', async () => {
    const { 'x-hub-signature-256': _, ...rest } = headers('push', PR_SIGNATURE);
    expect(await verify({ ...rest, 'x-hub-signature': 'sha1=0123' }, PR_BODY)).toMatchObject({ ok: false, code: 'missing_signature' });
    expect(await verify(headers('push', 'sha256=xyz'), PR_BODY)).toMatchObject({ ok: false, code: 'invalid_signature' });
    expect(await verify(headers('push', PR_SIGNATURE.replace('sha256=', 'sha1=')), PR_BODY)).toMatchObject({ ok: false, code: 'invalid_signature' });
  });

  it('reports missing_signature when a GitHub header is absent', async () => {
    for (const name of ['x-hub-signature-256', 'x-github-event', 'x-github-delivery']) {
      const partial: Record<string, string> = headers('pull_request', PR_SIGNATURE);
      delete partial[name];
      expect(await verify(partial, PR_BODY)).toMatchObject({ ok: false, code: 'missing_signature' });
    }
  });

  it('keeps a signed body that is not JSON as data_base64 rather than dropping it', async () => {
    const body = 'not json';
    const result = await verify(headers('push', await sign(SECRET, body)), body);
    expect(result.ok && result.event).toMatchObject({ type: 'github.push', data_base64: btoa(body) });
  });

  it('keeps a secret GitHub showed and makes one when none is supplied', async () => {
    expect(await github.provision({}, 'typed-into-github')).toEqual({ config: {}, secrets: ['typed-into-github'] });
    const made = await github.provision({});
    expect(made.secrets[0]).toMatch(/^[0-9a-f]{64}$/);
    expect((await github.provision({})).secrets[0]).not.toBe(made.secrets[0]);
  });
});
