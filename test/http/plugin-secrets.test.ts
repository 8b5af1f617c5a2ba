import { describe, expect, it } from 'vitest';
import { open } from '../../src/lib/secret-box';
import { sealLegacySecrets } from '../../src/tenancy/seal-legacy-secrets';
import { api, createSource, ingest, makeEvent, testEnv, withTestDb, type TestSource } from '../fixtures/api';
import { receiverPath, waitForRequests } from '../fixtures/receiver';

const MARKER = '********';
const TOKEN = 'Bearer tok_live_5f3a9c1e';

type Sub = { id: string; action: { type?: string; plugin_id?: string; config?: { url: string; headers?: Record<string, string> } } };
type Plugin = { id: string; config: { url: string; headers?: Record<string, string> } };
type Catalog = { data: { id: string; kind: string; config_schema: Record<string, unknown> }[] };

const base = (tenantId: string) => `/v1/tenants/${tenantId}`;

async function subscribe(source: TestSource, config: Record<string, unknown>): Promise<Sub> {
  const res = await api<Sub>('POST', `${base(source.tenantId)}/subscriptions`, { types: ['orders.*'], action: { type: 'webhook', config } });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

async function storedActionConfig(subscriptionId: string): Promise<Record<string, unknown>> {
  const rows = await withTestDb((db) =>
    db.query<{ action_config: Record<string, unknown> }>('SELECT action_config FROM subscriptions WHERE id = $1', [subscriptionId]),
  );
  return rows.rows[0]!.action_config;
}

async function storedPluginConfig(pluginId: string): Promise<Record<string, unknown>> {
  const rows = await withTestDb((db) => db.query<{ config: Record<string, unknown> }>('SELECT config FROM plugins WHERE id = $1', [pluginId]));
  return rows.rows[0]!.config;
}

/** The stored header, opened with the deployment's key: proves it is sealed and what it holds. */
async function openedHeader(config: Record<string, unknown>, name: string): Promise<string> {
  const sealed = (config.headers as Record<string, { $sealed: string }>)[name]!;
  expect(sealed).toEqual({ $sealed: expect.stringMatching(/^v1\./) });
  return open(testEnv.ENCRYPTION_KEY, sealed.$sealed);
}

async function deliveredAuthorization(source: TestSource, path: string, count: number): Promise<string | undefined> {
  expect((await ingest(source, makeEvent())).status).toBe(202);
  const requests = await waitForRequests(path, count);
  return requests.at(-1)!.headers.authorization;
}

describe('write-only plugin secrets', () => {
  it('marks secret fields writeOnly in the catalog, in action types only', async () => {
    const { body } = await api<Catalog>('GET', '/v1/plugins');
    const schema = (id: string) => body.data.find((t) => t.id === id)!.config_schema as { properties: Record<string, Record<string, unknown>> };
    expect(schema('webhook').properties.headers!.additionalProperties).toMatchObject({ type: 'string', writeOnly: true });
    expect(schema('webhook').properties.url!.writeOnly).toBeUndefined();
    expect(schema('slack').properties.url!.writeOnly).toBe(true);
    expect(schema('discord').properties.url!.writeOnly).toBe(true);
    for (const type of body.data.filter((t) => t.kind !== 'action')) expect(JSON.stringify(type.config_schema), type.id).not.toContain('writeOnly');
  });

  it('stores webhook headers sealed and never returns them when a subscription is created, read or listed', async () => {
    const source = await createSource();
    const { url } = receiverPath();
    const created = await subscribe(source, { url, headers: { Authorization: TOKEN, 'X-Team': 'blue' } });
    expect(created.action.config).toEqual({ url, headers: { Authorization: MARKER, 'X-Team': MARKER }, timeout_ms: 15_000 });

    const stored = await storedActionConfig(created.id);
    expect(JSON.stringify(stored)).not.toContain('tok_live');
    expect(await openedHeader(stored, 'Authorization')).toBe(TOKEN);
    expect(await openedHeader(stored, 'X-Team')).toBe('blue');

    const one = await api<Sub>('GET', `${base(source.tenantId)}/subscriptions/${created.id}`);
    expect(one.body.action.config?.headers).toEqual({ Authorization: MARKER, 'X-Team': MARKER });
    const list = await api<{ data: Sub[] }>('GET', `${base(source.tenantId)}/subscriptions`);
    expect(JSON.stringify(list.body)).not.toContain('tok_live');
    expect(list.body.data.find((s) => s.id === created.id)?.action.config?.headers?.Authorization).toBe(MARKER);
    const audit = await api('GET', `${base(source.tenantId)}/audit-log`);
    expect(audit.status).toBe(200);
    expect(JSON.stringify(audit.body)).not.toContain('tok_live');
  });

  it('sends the real header to the receiver, keeps it on a PATCH that sends the marker and replaces it on one with a new value', async () => {
    const source = await createSource();
    const { path, url } = receiverPath();
    const sub = await subscribe(source, { url, headers: { Authorization: TOKEN } });
    expect(await deliveredAuthorization(source, path, 1)).toBe(TOKEN);

    const kept = await api<Sub>('PATCH', `${base(source.tenantId)}/subscriptions/${sub.id}`, {
      action: { type: 'webhook', config: { url, headers: { Authorization: MARKER }, timeout_ms: 5000 } },
    });
    expect(kept.status, JSON.stringify(kept.body)).toBe(200);
    expect(kept.body.action.config).toEqual({ url, headers: { Authorization: MARKER }, timeout_ms: 5000 });
    expect(await openedHeader(await storedActionConfig(sub.id), 'Authorization')).toBe(TOKEN);
    expect(await deliveredAuthorization(source, path, 2)).toBe(TOKEN);

    const replaced = await api<Sub>('PATCH', `${base(source.tenantId)}/subscriptions/${sub.id}`, {
      action: { type: 'webhook', config: { url, headers: { Authorization: 'Bearer rotated' } } },
    });
    expect(replaced.status).toBe(200);
    expect(JSON.stringify(replaced.body)).not.toContain('rotated');
    expect(await deliveredAuthorization(source, path, 3)).toBe('Bearer rotated');
  });

  it('refuses to keep a stored secret when the destination URL changes, so the secret cannot be sent elsewhere', async () => {
    const source = await createSource();
    const { url } = receiverPath();
    const other = receiverPath();
    const sub = await subscribe(source, { url, headers: { Authorization: TOKEN } });

    const moved = await api<{ code: string; errors: { pointer: string }[] }>('PATCH', `${base(source.tenantId)}/subscriptions/${sub.id}`, {
      action: { type: 'webhook', config: { url: other.url, headers: { Authorization: MARKER } } },
    });
    expect(moved.status, JSON.stringify(moved.body)).toBe(422);
    expect(moved.body).toMatchObject({ code: 'secret_required', errors: [{ pointer: '/action/config/headers/Authorization' }] });
    expect(await openedHeader(await storedActionConfig(sub.id), 'Authorization')).toBe(TOKEN);

    // sending the value with the new URL is the way to move it
    const resent = await api<Sub>('PATCH', `${base(source.tenantId)}/subscriptions/${sub.id}`, {
      action: { type: 'webhook', config: { url: other.url, headers: { Authorization: TOKEN } } },
    });
    expect(resent.status, JSON.stringify(resent.body)).toBe(200);
    expect(resent.body.action.config?.url).toBe(other.url);
  });

  it('does not echo a refused secret value in the error', async () => {
    const source = await createSource();
    const { url } = receiverPath();
    for (const headers of [
      JSON.parse('{"__proto__":"tok_live_proto"}'),
      { Authorization: 'tok_live_x\r\nX-Evil: 1' },
      { Authorization: `tok_live_${'x'.repeat(5000)}` },
    ]) {
      const res = await api('POST', `${base(source.tenantId)}/subscriptions`, { types: ['**'], action: { type: 'webhook', config: { url, headers } } });
      expect(res.status).toBe(422);
      expect(JSON.stringify(res.body)).not.toContain('tok_live');
    }
  });

  it('refuses the marker where no secret is stored at that place', async () => {
    const source = await createSource();
    const { url } = receiverPath();
    const res = await api<{ code: string; errors: { pointer: string }[] }>('POST', `${base(source.tenantId)}/subscriptions`, {
      types: ['**'],
      action: { type: 'webhook', config: { url, headers: { Authorization: MARKER } } },
    });
    expect(res.status).toBe(422);
    expect(res.body).toMatchObject({ code: 'invalid_plugin_config', errors: [{ pointer: '/action/config/headers/Authorization' }] });
  });

  it("seals a plugin instance's secrets, masks them on every read, keeps them on PATCH and opens them to check a subscription's destination", async () => {
    const source = await createSource();
    const plugins = `${base(source.tenantId)}/plugins`;
    const { path, url } = receiverPath();
    const created = await api<Plugin>('POST', plugins, { type: 'webhook', name: 'billing', config: { url, headers: { Authorization: TOKEN } } });
    expect(created.status).toBe(201);
    expect(created.body.config.headers).toEqual({ Authorization: MARKER });
    expect(await openedHeader(await storedPluginConfig(created.body.id), 'Authorization')).toBe(TOKEN);
    expect((await api<Plugin>('GET', `${plugins}/${created.body.id}`)).body.config.headers).toEqual({ Authorization: MARKER });
    expect(JSON.stringify((await api('GET', plugins)).body)).not.toContain('tok_live');

    const patched = await api<Plugin>('PATCH', `${plugins}/${created.body.id}`, { config: { url, headers: { Authorization: MARKER } } });
    expect(patched.status).toBe(200);
    expect(await openedHeader(await storedPluginConfig(created.body.id), 'Authorization')).toBe(TOKEN);
    const sub = await api('POST', `${base(source.tenantId)}/subscriptions`, { types: ['orders.*'], action: { plugin_id: created.body.id } });
    expect(sub.status).toBe(201);
    expect(await deliveredAuthorization(source, path, 1)).toBe(TOKEN);

    // a Slack URL is write-only, and still checked against the SSRF rules where it is used
    const slack = await api<Plugin>('POST', plugins, { type: 'slack', name: 'ops', config: { url: 'http://10.1.2.3/services/T0/B0/secret' } });
    expect(slack.body.config.url).toBe(MARKER);
    const refused = await api<{ code: string }>('POST', `${base(source.tenantId)}/subscriptions`, { types: ['**'], action: { plugin_id: slack.body.id } });
    expect(refused.status).toBe(422);
    expect(refused.body.code).toBe('destination_refused');
  });

  it('never returns a plain secret of a row written before sealing, still delivers it, and seals it on the next write', async () => {
    const source = await createSource();
    const { path, url } = receiverPath();
    const sub = await subscribe(source, { url });
    await withTestDb((db) =>
      db.query('UPDATE subscriptions SET action_config = $2 WHERE id = $1', [sub.id, JSON.stringify({ url, headers: { Authorization: TOKEN } })]),
    );

    const one = await api<Sub>('GET', `${base(source.tenantId)}/subscriptions/${sub.id}`);
    expect(one.body.action.config?.headers).toEqual({ Authorization: MARKER });
    expect(await deliveredAuthorization(source, path, 1)).toBe(TOKEN);

    expect((await api('PATCH', `${base(source.tenantId)}/subscriptions/${sub.id}`, { name: 'renamed' })).status).toBe(200);
    const stored = await storedActionConfig(sub.id);
    expect(JSON.stringify(stored)).not.toContain('tok_live');
    expect(await openedHeader(stored, 'Authorization')).toBe(TOKEN);
  });

  it('seals the plain secrets of rows written before sealing when the cron sweep runs, leaving their versions alone', async () => {
    const source = await createSource();
    const { url } = receiverPath();
    const sub = await subscribe(source, { url });
    const plugin = await api<Plugin & { version: number }>('POST', `${base(source.tenantId)}/plugins`, {
      type: 'slack',
      name: 'legacy',
      config: { url: 'https://hooks.slack.com/services/T0/B0/legacy' },
    });
    await withTestDb(async (db) => {
      await db.query('UPDATE subscriptions SET action_config = $2 WHERE id = $1', [sub.id, JSON.stringify({ url, headers: { Authorization: TOKEN } })]);
      await db.query('UPDATE plugins SET config = $2 WHERE id = $1', [
        plugin.body.id,
        JSON.stringify({ url: 'https://hooks.slack.com/services/T0/B0/legacy' }),
      ]);
      const sealed = await sealLegacySecrets(db, testEnv.ENCRYPTION_KEY);
      expect(sealed.subscriptions).toBeGreaterThanOrEqual(1);
      expect(sealed.plugins).toBeGreaterThanOrEqual(1);
    });
    expect(await openedHeader(await storedActionConfig(sub.id), 'Authorization')).toBe(TOKEN);
    const storedPlugin = await storedPluginConfig(plugin.body.id);
    expect(JSON.stringify(storedPlugin)).not.toContain('legacy');
    expect(await open(testEnv.ENCRYPTION_KEY, (storedPlugin.url as { $sealed: string }).$sealed)).toBe('https://hooks.slack.com/services/T0/B0/legacy');
    expect((await api<{ version: number }>('GET', `${base(source.tenantId)}/plugins/${plugin.body.id}`)).body.version).toBe(plugin.body.version);
  });
});
