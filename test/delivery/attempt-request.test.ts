import { describe, expect, it } from 'vitest';
import { api, createSource, eventually, ingest, makeEvent, type TestSource } from '../fixtures/api';
import { behave, receiverPath, waitForRequests } from '../fixtures/receiver';

interface Attempt {
  outcome: string;
  status_code: number | null;
  response_body: string | null;
  request: { method: string; url: string; headers: Record<string, string>; body: string | null; body_truncated: boolean } | null;
  response: { status: number | null; headers: Record<string, string> | null; body: string | null; body_truncated: boolean };
}
type Delivery = { id: string; status: string; attempt_log: Attempt[] };

const TOKEN = `Bearer tok_${crypto.randomUUID()}`;

async function subscribe(source: TestSource, url: string): Promise<void> {
  const res = await api('POST', `/v1/tenants/${source.tenantId}/subscriptions`, {
    types: ['orders.*'],
    retry_schedule: [0],
    action: { type: 'webhook', config: { url, headers: { Authorization: TOKEN, 'X-Tenant-Tag': 'blue' } } },
  });
  if (res.status !== 201) throw new Error(`subscribe: ${res.status} ${JSON.stringify(res.body)}`);
}

async function deliver(source: TestSource, event: Record<string, unknown>, status: string): Promise<{ delivery: Delivery; raw: string }> {
  const res = await ingest(source, event);
  expect(res.status).toBe(202);
  const eventId = (await res.json<{ id: string }>()).id;
  const found = await eventually(
    async () =>
      (await api<{ data: Delivery[] }>('GET', `/v1/tenants/${source.tenantId}/deliveries?event_id=${eventId}`)).body.data.find((d) => d.status === status),
    20_000,
    100,
  );
  const detail = await api<Delivery>('GET', `/v1/tenants/${source.tenantId}/deliveries/${found.id}`);
  expect(detail.status).toBe(200);
  return { delivery: detail.body, raw: JSON.stringify(detail.body) };
}

describe('an attempt records the request as sent and the answer head', () => {
  it('keeps the exact body and Standard Webhooks headers the receiver got, masks a configured secret header, bounds response headers', async () => {
    const source = await createSource();
    const hook = receiverPath();
    // 60 response headers, one of them 3000 characters long (first by name and as sent: among the 50 kept)
    const answerHeaders: Record<string, string> = { 'a-long': 'v'.repeat(3000) };
    for (let i = 0; i < 59; i++) answerHeaders[`x-h-${String(i).padStart(2, '0')}`] = `value-${i}`;
    await behave(hook.path, { default: { status: 503, headers: answerHeaders, body: 'orders database is down' } });
    await subscribe(source, hook.url);

    const { delivery, raw } = await deliver(source, makeEvent(), 'failed');
    const requests = await waitForRequests(hook.path, 1);
    expect(delivery.attempt_log).toHaveLength(requests.length);
    const got = requests[0];
    const attempt = delivery.attempt_log[0]!;
    // compatibility fields stay
    expect(attempt).toMatchObject({ status_code: 503, response_body: 'orders database is down' });

    const request = attempt.request!;
    expect(request).toMatchObject({ method: 'POST', url: hook.url, body_truncated: false });
    expect(request.body).toBe(got!.body);
    for (const name of ['webhook-id', 'webhook-timestamp', 'webhook-signature', 'content-type', 'user-agent']) {
      expect(request.headers[name], name).toBe(got!.headers[name]);
    }
    expect(request.headers['webhook-signature']).toMatch(/^v1,/);
    // the receiver got the secret; the record never holds it
    expect(got!.headers.authorization).toBe(TOKEN);
    expect(request.headers.authorization).toBe('********');
    expect(request.headers['x-tenant-tag']).toBe('********');
    expect(raw).not.toContain(TOKEN.slice(7));

    expect(attempt.response.status).toBe(503);
    expect(attempt.response.body).toBe('orders database is down');
    expect(attempt.response.body_truncated).toBe(false);
    const headers = attempt.response.headers!;
    expect(Object.keys(headers)).toHaveLength(50);
    expect(headers['a-long']).toBe(`${'v'.repeat(1024)}…`);
  });

  it('truncates a large request body at 16 KiB with the flag, and flags a response body cut at 1 KiB', async () => {
    const source = await createSource();
    const hook = receiverPath();
    await behave(hook.path, { default: { status: 200, body: 'x'.repeat(5000) } });
    await subscribe(source, hook.url);

    const { delivery } = await deliver(source, makeEvent({ data: { blob: 'é'.repeat(20_000) } }), 'delivered');
    const [got] = await waitForRequests(hook.path, 1);
    const attempt = delivery.attempt_log[0]!;
    expect(got!.body.length).toBeGreaterThan(16 * 1024);
    const request = attempt.request!;
    expect(request.body_truncated).toBe(true);
    expect(new TextEncoder().encode(request.body!).byteLength).toBeLessThanOrEqual(16 * 1024 + 2);
    // the kept part is the start of what was sent (a 2-byte character cut at the bound becomes U+FFFD)
    expect(got!.body.startsWith(request.body!.replace(/\uFFFD$/, ''))).toBe(true);
    expect(request.body!.length).toBeGreaterThan(8000);

    expect(attempt.response).toMatchObject({ status: 200, body: 'x'.repeat(1024), body_truncated: true });
    expect(attempt.response.headers!['x-powered-by'] ?? attempt.response.headers!.date).toBeTruthy();
  });
});
