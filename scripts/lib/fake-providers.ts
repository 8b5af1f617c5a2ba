/**
 * Local stand-ins for the providers the `email`, `sms` and `teams` actions call (Node side, one HTTP
 * server): they check credentials and the request's shape the way the real APIs do and answer with
 * the providers' own bodies, statuses and rate-limit headers.
 *   POST /resend/emails                                        Resend (Bearer key, Idempotency-Key)
 *   POST /twilio/2010-04-01/Accounts/{sid}/Messages.json       Twilio (Basic sid:token, form body;
 *        Twilio's magic test numbers: To +15005550001 is 21211 invalid, +15005550004 is 21610 unsubscribed)
 *   POST /teams/workflows/{id}/triggers/manual/paths/invoke?sig=…   a Teams Workflows webhook (202)
 * Tests in workerd drive it over HTTP under `/_control/` (never recorded):
 *   POST /_control/accounts  {provider: "resend", api_key} | {provider: "twilio", account_sid, auth_token}
 *                            | {provider: "teams", workflow_id, sig}                        -> 204
 *   POST /_control/script    {account, answers: [{preset} | {status, headers?, body?}]}    -> 204
 *        the account's next answers, used once each after its credentials passed; presets are the
 *        providers' real answers: resend rate_limit_exceeded | daily_quota_exceeded | internal_server_error,
 *        twilio too_many_requests | internal_error, teams throttled | bad_gateway
 *   GET  /_control/requests?account=…                  -> {requests: [...]}
 *   GET  /_control/wait?account=…&count=2&timeout_ms=5000  -> 200 {requests}, or 408 when too few came
 * An account is the Resend key, the Twilio Account SID or the Teams workflow id: each test makes its own.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { flatHeaders, listen, parseJson, readBody } from './http-util.ts';

export interface ProviderRequest {
  provider: 'resend' | 'twilio' | 'teams';
  /** The credential it was made with (key, Account SID, workflow id), or '' when it had none. */
  account: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string;
  /** The body parsed: JSON, or the form's fields. */
  parsed: unknown;
  /** What the fake answered. */
  status: number;
  at: number;
}

interface Answer {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}): Answer => ({
  status,
  headers: { 'content-type': 'application/json', ...headers },
  body: JSON.stringify(body),
});

const resendError = (status: number, name: string, message: string, headers?: Record<string, string>) =>
  json(status, { statusCode: status, message, name }, headers);
const twilioError = (status: number, code: number, message: string) =>
  json(status, { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status });
const teamsError = (status: number, code: string, message: string, headers?: Record<string, string>) => json(status, { error: { code, message } }, headers);

const PRESETS: Record<string, Answer> = {
  rate_limit_exceeded: resendError(
    429,
    'rate_limit_exceeded',
    'Too many requests. You can only make 2 requests per second. See rate limit response headers for more information. Or contact support to increase rate limit.',
    { 'retry-after': '1', 'ratelimit-limit': '2', 'ratelimit-remaining': '0', 'ratelimit-reset': '1' },
  ),
  daily_quota_exceeded: resendError(429, 'daily_quota_exceeded', 'You have reached your daily email sending quota.', { 'retry-after': '1' }),
  internal_server_error: resendError(500, 'internal_server_error', 'An unexpected error occurred.'),
  too_many_requests: twilioError(429, 20429, 'Too Many Requests'),
  internal_error: twilioError(500, 20500, 'An internal server error has occurred'),
  throttled: teamsError(429, 'WorkflowTriggerIsThrottled', 'The workflow trigger is throttled. Retry after the time in the Retry-After header.', {
    'retry-after': '1',
  }),
  bad_gateway: teamsError(502, 'BadGateway', 'The workflow could not be reached.'),
};

const ADDRESS = /^[^\s@<>]+@[^\s@<>]+\.[A-Za-z]{2,}$/;
const MAILBOX = /^[^<>]*<([^<>\s]+)>$/;
const E164 = /^\+[1-9]\d{1,14}$/;

export interface FakeProviders {
  url: string;
  requests: ProviderRequest[];
  close(): Promise<void>;
}

export async function startFakeProviders(options: { port?: number; host?: string } = {}): Promise<FakeProviders> {
  const host = options.host ?? '127.0.0.1';
  const resendKeys = new Set<string>();
  const twilioTokens = new Map<string, string>();
  const teamsSigs = new Map<string, string>();
  const scripts = new Map<string, Answer[]>();
  const idempotency = new Map<string, { body: string; answer: Answer }>();
  const requests: ProviderRequest[] = [];
  const waiters = new Set<() => void>();

  const server = createServer((req, res) => void handle(req, res).catch(() => res.destroy()));

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://providers');
    const body = await readBody(req);
    if (url.pathname.startsWith('/_control/')) return control(req.method ?? 'GET', url, body, res);
    const headers = flatHeaders(req);
    const record = (provider: ProviderRequest['provider'], account: string, parsed: unknown, answer: Answer) => {
      requests.push({ provider, account, method: req.method ?? 'GET', path: url.pathname, headers, body, parsed, status: answer.status, at: Date.now() });
      for (const waiter of [...waiters]) waiter();
      res.writeHead(answer.status, answer.headers).end(answer.body ?? '');
    };
    const scripted = (account: string) => scripts.get(account)?.shift();

    if (req.method === 'POST' && url.pathname === '/resend/emails') {
      const key = /^Bearer (.+)$/.exec(headers.authorization ?? '')?.[1] ?? '';
      const parsed = parseJson(body);
      return record(
        'resend',
        key,
        parsed,
        resendAnswer(key, parsed, body, headers['idempotency-key']) ?? scripted(key) ?? remember(key, headers['idempotency-key'], body),
      );
    }
    const twilio = /^\/twilio\/2010-04-01\/Accounts\/([^/]+)\/Messages\.json$/.exec(url.pathname);
    if (req.method === 'POST' && twilio) {
      const form = Object.fromEntries(new URLSearchParams(body));
      const sid = twilio[1]!;
      return record('twilio', sid, form, twilioAuth(sid, headers.authorization) ?? scripted(sid) ?? twilioAnswer(sid, form, headers['content-type']));
    }
    const teams = /^\/teams\/workflows\/([^/]+)\/triggers\/manual\/paths\/invoke$/.exec(url.pathname);
    if (req.method === 'POST' && teams) {
      const id = teams[1]!;
      const parsed = parseJson(body);
      return record('teams', id, parsed, teamsAuth(id, url.searchParams.get('sig')) ?? scripted(id) ?? teamsAnswer(parsed));
    }
    res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ detail: `no provider route ${req.method} ${url.pathname}` }));
  }

  /** Resend checks the key, then the idempotency key, then the fields; null when all pass. */
  function resendAnswer(key: string, parsed: unknown, raw: string, idempotencyKey: string | undefined): Answer | null {
    if (!key)
      return resendError(
        401,
        'missing_api_key',
        'Missing API key in the authorization header. Include the following header in the request: Authorization: Bearer YOUR_API_KEY',
      );
    if (!resendKeys.has(key)) return resendError(403, 'invalid_api_key', 'API key is invalid');
    if (idempotencyKey !== undefined && (idempotencyKey.length < 1 || idempotencyKey.length > 256)) {
      return resendError(400, 'invalid_idempotency_key', 'The key must be between 1-256 chars.');
    }
    const earlier = idempotencyKey ? idempotency.get(`${key}\n${idempotencyKey}`) : undefined;
    if (earlier && earlier.body !== raw) {
      return resendError(409, 'invalid_idempotent_request', 'Same idempotency key used with a different request payload.');
    }
    if (earlier) return earlier.answer;
    const email = parsed as Record<string, unknown> | undefined;
    if (!email || typeof email !== 'object') return resendError(422, 'validation_error', 'Invalid JSON body.');
    for (const field of ['from', 'to', 'subject']) {
      if (email[field] === undefined) return resendError(422, 'missing_required_field', `Missing \`${field}\` field.`);
    }
    const from = String(email.from);
    if (!ADDRESS.test(from) && !ADDRESS.test(MAILBOX.exec(from)?.[1] ?? '')) {
      return resendError(
        422,
        'invalid_from_address',
        'Invalid `from` field. The email address needs to follow the `email@example.com` or `Name <email@example.com>` format.',
      );
    }
    const to = Array.isArray(email.to) ? email.to : [email.to];
    if (to.length > 50) return resendError(422, 'validation_error', 'Too many recipients. The maximum is 50.');
    if (!to.every((t) => typeof t === 'string' && ADDRESS.test(t))) {
      return resendError(
        422,
        'validation_error',
        'Invalid `to` field. The email address needs to follow the `email@example.com` or `Name <email@example.com>` format.',
      );
    }
    if (email.html === undefined && email.text === undefined) return resendError(422, 'validation_error', 'Missing `html` or `text` field.');
    return null;
  }

  function remember(key: string, idempotencyKey: string | undefined, raw: string): Answer {
    const answer = json(200, { id: randomUUID() });
    if (idempotencyKey) idempotency.set(`${key}\n${idempotencyKey}`, { body: raw, answer });
    return answer;
  }

  function twilioAuth(sid: string, authorization: string | undefined): Answer | null {
    const decoded = Buffer.from(/^Basic (.+)$/.exec(authorization ?? '')?.[1] ?? '', 'base64').toString('utf8');
    const [user, token] = [decoded.slice(0, decoded.indexOf(':')), decoded.slice(decoded.indexOf(':') + 1)];
    if (decoded.includes(':') && user === sid && twilioTokens.get(sid) === token) return null;
    return json(401, {
      code: 20003,
      detail: 'Your AccountSid or AuthToken was incorrect.',
      message: 'Authenticate',
      more_info: 'https://www.twilio.com/docs/errors/20003',
      status: 401,
    });
  }

  function twilioAnswer(sid: string, form: Record<string, string>, contentType: string | undefined): Answer {
    if (!contentType?.startsWith('application/x-www-form-urlencoded')) return twilioError(400, 21602, 'Message body is required.');
    if (!form.To) return twilioError(400, 21604, "A 'To' phone number is required.");
    if (!E164.test(form.To) || form.To === '+15005550001') return twilioError(400, 21211, `Invalid 'To' Phone Number: ${form.To}`);
    if (form.To === '+15005550004') return twilioError(400, 21610, 'Attempt to send to unsubscribed recipient');
    if (!form.From && !form.MessagingServiceSid) return twilioError(400, 21603, "A 'From' phone number is required.");
    if (form.From && !E164.test(form.From)) return twilioError(400, 21212, `Invalid From Number (caller ID): ${form.From}`);
    if (!form.Body) return twilioError(400, 21602, 'Message body is required.');
    if (form.Body.length > 1600) return twilioError(400, 21617, 'The concatenated message body exceeds the 1600 character limit.');
    const messageSid = `SM${randomBytes(16).toString('hex')}`;
    return json(201, {
      account_sid: sid,
      api_version: '2010-04-01',
      body: form.Body,
      date_created: new Date().toUTCString().replace('GMT', '+0000'),
      direction: 'outbound-api',
      error_code: null,
      error_message: null,
      from: form.From ?? null,
      messaging_service_sid: form.MessagingServiceSid ?? null,
      num_segments: String(Math.ceil(form.Body.length / 153)),
      sid: messageSid,
      status: form.MessagingServiceSid ? 'accepted' : 'queued',
      to: form.To,
      uri: `/2010-04-01/Accounts/${sid}/Messages/${messageSid}.json`,
    });
  }

  function teamsAuth(id: string, sig: string | null): Answer | null {
    if (!teamsSigs.has(id)) return teamsError(404, 'WorkflowNotFound', `The workflow '${id}' could not be found.`);
    if (!sig) return teamsError(401, 'DirectApiAuthorizationRequired', 'The request must be authenticated only by Shared Access scheme.');
    if (teamsSigs.get(id) !== sig)
      return teamsError(401, 'DirectApiInvalidAuthorizationSignature', 'The provided authentication token is not valid, signature is invalid.');
    return null;
  }

  function teamsAnswer(parsed: unknown): Answer {
    const message = parsed as
      | { type?: unknown; attachments?: { contentType?: unknown; content?: { type?: unknown; version?: unknown; body?: unknown } }[] }
      | undefined;
    const card = Array.isArray(message?.attachments) ? message.attachments[0] : undefined;
    const valid =
      message?.type === 'message' &&
      card?.contentType === 'application/vnd.microsoft.card.adaptive' &&
      card.content?.type === 'AdaptiveCard' &&
      typeof card.content.version === 'string' &&
      Array.isArray(card.content.body);
    if (!valid) return teamsError(400, 'InvalidRequestContent', 'The request content is not a message with an Adaptive Card attachment.');
    return { status: 202 };
  }

  async function control(method: string, url: URL, body: string, res: ServerResponse) {
    const reply = (status: number, payload?: unknown) =>
      payload === undefined ? res.writeHead(status).end() : res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(payload));
    const input = (parseJson(body) ?? {}) as Record<string, unknown>;
    const account = url.searchParams.get('account');
    const forAccount = () => requests.filter((r) => r.account === account);
    if (method === 'POST' && url.pathname === '/_control/accounts') {
      if (input.provider === 'resend' && typeof input.api_key === 'string') resendKeys.add(input.api_key);
      else if (input.provider === 'twilio' && typeof input.account_sid === 'string' && typeof input.auth_token === 'string')
        twilioTokens.set(input.account_sid, input.auth_token);
      else if (input.provider === 'teams' && typeof input.workflow_id === 'string' && typeof input.sig === 'string')
        teamsSigs.set(input.workflow_id, input.sig);
      else
        return reply(400, {
          detail: 'expected {provider: resend, api_key} | {provider: twilio, account_sid, auth_token} | {provider: teams, workflow_id, sig}',
        });
      return reply(204);
    }
    if (method === 'POST' && url.pathname === '/_control/script') {
      const answers = Array.isArray(input.answers) ? (input.answers as ({ preset?: string } & Partial<Answer>)[]) : null;
      if (typeof input.account !== 'string' || !answers) return reply(400, { detail: 'expected {account, answers: [...]}' });
      const resolved: Answer[] = [];
      for (const a of answers) {
        const answer = a.preset ? PRESETS[a.preset] : typeof a.status === 'number' ? { status: a.status, headers: a.headers, body: a.body } : undefined;
        if (!answer) return reply(400, { detail: `unknown answer ${JSON.stringify(a)}; presets: ${Object.keys(PRESETS).join(', ')}` });
        resolved.push(answer);
      }
      scripts.set(input.account, resolved);
      return reply(204);
    }
    if (method === 'GET' && url.pathname === '/_control/requests') return reply(200, { requests: forAccount() });
    if (method === 'GET' && url.pathname === '/_control/wait' && account) {
      const count = Number(url.searchParams.get('count') ?? 1);
      const timeoutMs = Number(url.searchParams.get('timeout_ms') ?? 10_000);
      return new Promise<void>((resolve) => {
        const check = () => {
          if (forAccount().length < count) return;
          done(200);
        };
        const done = (status: number) => {
          clearTimeout(timer);
          waiters.delete(check);
          reply(status, { requests: forAccount() });
          resolve();
        };
        const timer = setTimeout(() => done(408), timeoutMs);
        waiters.add(check);
        check();
      });
    }
    return reply(404, { detail: `no control endpoint ${method} ${url.pathname}` });
  }

  const { url, close } = await listen(server, host, options.port);
  return { url, requests, close };
}
