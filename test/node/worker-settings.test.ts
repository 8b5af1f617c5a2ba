import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ensureDevVars, parseDevVars } from '../../scripts/lib/dev-vars.ts';
import { describeSettings, resolveSettings, WORKER_SETTINGS, wranglerInputs } from '../../scripts/lib/worker-settings.ts';

const README = readFileSync(join(import.meta.dirname, '../../README.md'), 'utf8');
const WRANGLER_TOML = readFileSync(join(import.meta.dirname, '../../wrangler.toml'), 'utf8');

describe('settings npm run dev hands to the Worker', () => {
  it('takes a setting from the environment when .dev.vars has it too', () => {
    const { values, origins } = resolveSettings(
      { EGRESS_ALLOWLIST: '127.0.0.1:9000', PATH: '/bin' },
      { EGRESS_ALLOWLIST: '127.0.0.1:7000', ADMIN_JWT_SECRET: 'k' },
    );
    expect(values).toEqual({ EGRESS_ALLOWLIST: '127.0.0.1:9000', ADMIN_JWT_SECRET: 'k' });
    expect(origins).toEqual({ EGRESS_ALLOWLIST: 'environment', ADMIN_JWT_SECRET: '.dev.vars' });
  });

  it('takes every documented setting from .dev.vars when the environment lacks it', () => {
    const devVars = Object.fromEntries(WORKER_SETTINGS.map(({ name }) => [name, `v-${name}`]));
    const { values, unknown } = resolveSettings({}, devVars);
    expect(values).toEqual(devVars);
    expect(unknown).toEqual([]);
  });

  it('lets an empty environment value lift a .dev.vars entry', () => {
    expect(resolveSettings({ EGRESS_ALLOWLIST: '' }, { EGRESS_ALLOWLIST: '127.0.0.1:9000' }).values).toEqual({});
  });

  it('reports .dev.vars keys that are no setting, and never passes them on', () => {
    const { values, unknown } = resolveSettings({}, { EGRESS_ALLOWLST: '127.0.0.1:9000', PORT: '8790' });
    expect(unknown).toEqual(['EGRESS_ALLOWLST']);
    expect(values).toEqual({});
  });

  it('covers every setting the README configuration table documents for the Worker', () => {
    const table = README.slice(README.indexOf('## Configuration'));
    const documented = [...table.matchAll(/^\| (.+?) \| (secret|var) \|/gm)].flatMap(([, names]) =>
      [...(names ?? '').matchAll(/`([A-Z_]+)`/g)].map((m) => m[1]),
    );
    expect(documented.length).toBeGreaterThan(10);
    expect(WORKER_SETTINGS.map((s) => s.name).sort()).toEqual([...documented].sort());
  });

  it('marks exactly the required secrets of wrangler.toml as travelling in the env file', () => {
    const required = JSON.parse(/^required\s*=\s*(\[.*\])/m.exec(WRANGLER_TOML)?.[1] ?? '[]') as string[];
    expect(
      WORKER_SETTINGS.filter((s) => s.required)
        .map((s) => s.name)
        .sort(),
    ).toEqual([...required].sort());
  });

  it('passes required secrets in the env file and optional settings as --var', () => {
    const { args, envFileText } = wranglerInputs(
      { ADMIN_JWT_SECRET: 'a$b#c d', DATABASE_URL: 'postgres://u:p@127.0.0.1:5432/db', EGRESS_ALLOWLIST: '127.0.0.1:9000', UPSTASH_REDIS_REST_TOKEN: 't:1' },
      '/x/wrangler.env',
    );
    expect(args).toEqual(['--env-file', '/x/wrangler.env', '--var', 'EGRESS_ALLOWLIST:127.0.0.1:9000', '--var', 'UPSTASH_REDIS_REST_TOKEN:t:1']);
    expect(envFileText).toContain("ADMIN_JWT_SECRET='a\\$b#c d'\n");
    expect(envFileText).toContain("DATABASE_URL='postgres://u:p@127.0.0.1:5432/db'\n");
    expect(envFileText).not.toContain('EGRESS_ALLOWLIST');
  });

  it('refuses a required secret the env file cannot carry', () => {
    expect(() => wranglerInputs({ ENCRYPTION_KEY: "it's" }, '/x')).toThrow(/ENCRYPTION_KEY/);
  });

  it('shows the settings in force with their origin, secrets masked', () => {
    const lines = describeSettings({
      values: {
        ADMIN_JWT_SECRET: 'super-secret-value-0123456789',
        DATABASE_URL: 'postgres://u:hunter2@db.example:5432/app',
        EGRESS_ALLOWLIST: '127.0.0.1:9000',
      },
      origins: { ADMIN_JWT_SECRET: '.dev.vars', DATABASE_URL: 'environment', EGRESS_ALLOWLIST: 'environment' },
    });
    expect(lines).toHaveLength(3);
    expect(lines.join('\n')).not.toMatch(/super-secret|hunter2/);
    expect(lines[0]).toMatch(/^ADMIN_JWT_SECRET +\*\*\* \(29 characters\) +\(\.dev\.vars\)$/);
    expect(lines[1]).toContain('postgres://u:***@db.example:5432/app');
    expect(lines[2]).toMatch(/^EGRESS_ALLOWLIST +127\.0\.0\.1:9000 +\(environment\)$/);
  });
});

describe('.dev.vars parsing', () => {
  it('reads values the way dotenv does when they are quoted, exported or commented', () => {
    const text = [
      '# comment',
      'A=plain',
      'export B = spaced  ',
      "C='single # kept'",
      'D="double" # trailing comment',
      'E=value # comment',
      'F="line\\nbreak"',
      'G=',
      'not a line',
    ].join('\n');
    expect(parseDevVars(text)).toEqual({ A: 'plain', B: 'spaced', C: 'single # kept', D: 'double', E: 'value', F: 'line\nbreak', G: '' });
  });
});

describe('.dev.vars on first run', () => {
  it('holds every required secret of wrangler.toml, DATABASE_URL empty (PGlite), so wrangler does not call them missing', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'sy-vars-')), '.dev.vars');
    const vars = await ensureDevVars(path);
    expect(Object.keys(vars).sort()).toEqual(
      WORKER_SETTINGS.filter((s) => s.required)
        .map((s) => s.name)
        .sort(),
    );
    expect(vars.DATABASE_URL).toBe('');
    expect(parseDevVars(readFileSync(path, 'utf8'))).toEqual(vars);
    expect(resolveSettings({}, vars).values).not.toHaveProperty('DATABASE_URL');
  });

  it('appends only the keys an older file lacks and keeps what is there', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'sy-vars-')), '.dev.vars');
    writeFileSync(path, 'ADMIN_JWT_SECRET=mine\nENCRYPTION_KEY=key\nEGRESS_ALLOWLIST=127.0.0.1:9000');
    await ensureDevVars(path);
    expect(parseDevVars(readFileSync(path, 'utf8'))).toEqual({
      ADMIN_JWT_SECRET: 'mine',
      ENCRYPTION_KEY: 'key',
      EGRESS_ALLOWLIST: '127.0.0.1:9000',
      DATABASE_URL: '',
    });
  });
});

describe('wrangler reads the env file as written', () => {
  it('gives the Worker the required secrets exactly, $, # and spaces included, and drops other names', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sy-env-'));
    const config = join(dir, 'wrangler.toml');
    writeFileSync(
      config,
      'name = "probe"\nmain = "index.js"\ncompatibility_date = "2026-11-01"\n[secrets]\nrequired = ["ADMIN_JWT_SECRET", "ENCRYPTION_KEY", "DATABASE_URL"]\n',
    );
    writeFileSync(join(dir, 'index.js'), 'export default { fetch() { return new Response("ok"); } };\n');
    const values = { ADMIN_JWT_SECRET: 'a$HOME b#c ${PATH} \\$x', ENCRYPTION_KEY: 'MDEy+/=', DATABASE_URL: 'postgres://u:p%24@127.0.0.1:5432/db?x=1' };
    const envFile = join(dir, 'wrangler.env');
    writeFileSync(envFile, `${wranglerInputs(values, envFile).envFileText}EGRESS_ALLOWLIST='127.0.0.1:9000'\n`);

    // the same loader `wrangler dev --env-file` uses; it reads `envFiles` although its type omits it
    const { unstable_getMiniflareWorkerOptions } = await import('wrangler');
    const load = unstable_getMiniflareWorkerOptions as unknown as (
      path: string,
      env: undefined,
      options: { envFiles: string[] },
    ) => { workerOptions: { bindings?: Record<string, unknown> } };
    // as scripts/dev.ts starts wrangler: without the settings in its environment, which would win
    const saved = Object.fromEntries(Object.keys(values).map((name) => [name, process.env[name]]));
    for (const name of Object.keys(values)) delete process.env[name];
    let bindings: Record<string, unknown>;
    try {
      bindings = load(config, undefined, { envFiles: [envFile] }).workerOptions.bindings ?? {};
    } finally {
      for (const [name, value] of Object.entries(saved)) if (value !== undefined) process.env[name] = value;
    }
    expect(bindings).toMatchObject(values);
    // why the optional settings travel as --var: wrangler drops env-file names that are not required secrets
    expect(bindings).not.toHaveProperty('EGRESS_ALLOWLIST');
  });
});
