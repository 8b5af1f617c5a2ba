import { cloudflareTest } from '@cloudflare/vitest-plugin';
import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';
import { withLocalV8Flags } from './src/sandbox/local-v8-flags.ts';

// linear-time fallback for backtracking regular expressions in tenant scripts (see the module)
process.env.MINIFLARE_WORKERD_V8_FLAGS = withLocalV8Flags(process.env.MINIFLARE_WORKERD_V8_FLAGS);

// Fixed keys for tests only; real deployments set these as Workers secrets.
const TEST_SECRETS = {
  ADMIN_JWT_SECRET: 'test-admin-secret-0123456789abcdef',
  ENCRYPTION_KEY: 'MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=',
};

/**
 * wrangler.toml's `[secrets] required` makes the plugin's wrangler warn "Missing required secrets" unless
 * it finds them in .dev.vars or, without that file, in process.env. The bindings below are what the tests
 * get either way; this offers wrangler the same values. Runs in the callback, after globalSetup.
 */
function offerRequiredSecrets(databaseUrl: string): string {
  process.env.ADMIN_JWT_SECRET ??= TEST_SECRETS.ADMIN_JWT_SECRET;
  process.env.ENCRYPTION_KEY ??= TEST_SECRETS.ENCRYPTION_KEY;
  process.env.DATABASE_URL ??= databaseUrl;
  return databaseUrl;
}

/** The Worker under test in workerd, with the bindings the test set-up provides. */
function workersPlugin() {
  return cloudflareTest(({ inject }) => ({
    wrangler: { configPath: './wrangler.toml' },
    miniflare: {
      bindings: {
        ...TEST_SECRETS,
        DATABASE_URL: offerRequiredSecrets(inject('databaseUrl')),
        NEON_WS_PROXY: inject('wsProxy'),
        CONTROL_URL: inject('controlUrl'),
        RECEIVER_URL: inject('receiverUrl'),
        PROVIDERS_URL: inject('providersUrl'),
        EGRESS_ALLOWLIST: [new URL(inject('receiverUrl')).host, new URL(inject('providersUrl')).host].join(','),
        // retry delays of whole seconds, so schedules like [0, 1, 1] run in a test's time
        RETRY_SCALE: '1',
        // Redis through the Upstash REST server (unset when a local run has no Redis)
        UPSTASH_REDIS_REST_URL: inject('upstashUrl'),
        UPSTASH_REDIS_REST_TOKEN: inject('upstashToken'),
        // generous for a busy test machine; the slow-Redis test holds calls 3 s, well past it
        REDIS_TIMEOUT_MS: '1000',
        UPSTASH_DIRECT_URL: inject('upstashDirectUrl'),
        REDIS_REQUIRED: inject('redisRequired'),
        // an external identity provider whose JWKS the control server hosts
        AUTH_JWKS_URL: `${inject('controlUrl')}/jwks/idp`,
        AUTH_JWKS_ISSUER: 'https://idp.switchyard.test',
        // wrangler.toml's [vars] names, so .dev.vars or the shell could set them for tests too; pin them
        AUTH_JWKS_AUDIENCE: '',
        REDRIVE_AFTER_SECONDS: '300',
      },
      // Cloudflare Email Service, emulated by Miniflare (wrangler.toml leaves it commented out)
      email: { send_email: [{ name: 'SEND_EMAIL' }] },
    },
  }));
}

/**
 * Workers test files that change what every file shares: they pause the database link (`/proxy/pause`),
 * slow, cut or count the Redis link (`/upstash/…`), or create and drop the shared tables' partitions
 * (`maintainPartitions`, whose drop locks a parent table that another file's write, planned over every
 * partition, may hold: a deadlock). Found by what they call, wherever they live. Vitest runs a project
 * without file parallelism on its own, after the others.
 */
function filesRunAlone(): string[] {
  const dir = fileURLToPath(new URL('./test/', import.meta.url));
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.test.ts') && !file.startsWith('node/'))
    .filter((file) => /\/proxy\/pause|\/upstash\/|maintainPartitions\(/.test(readFileSync(join(dir, file), 'utf8')))
    .map((file) => `test/${file}`);
}
const RUN_ALONE = filesRunAlone();
/** The other workers files two at a time (Vitest's default is one fewer than the cores: 1 on a 2-core machine). */
const PARALLEL_FILES = Math.max(2, availableParallelism() - 1);

export default defineConfig({
  test: {
    reporters: ['default', './test/summary-reporter.ts'],
    // one Postgres, Redis, receiver and control server for every project (the node project does not use them)
    globalSetup: ['./test/global-setup.ts'],
    // `npm run coverage` only (not npm test or CI). Istanbul, the provider the Workers plugin supports in
    // workerd: it instruments the source as Vite transforms it, so code the Worker, its Durable Objects
    // and the queue consumer run in the test isolate counts too.
    coverage: {
      provider: 'istanbul',
      include: ['src/**/*.ts', 'plugins/**/*.ts'],
      exclude: ['src/env.d.ts'],
      reporter: ['text-summary', ['text', { skipFull: true }], 'json-summary', 'html'],
      reportsDirectory: './coverage',
      // a report even when a test fails (Vitest's default skips it)
      reportOnFailure: true,
    },
    projects: [
      {
        plugins: [workersPlugin()],
        test: {
          name: 'workers',
          include: ['test/**/*.test.ts'],
          exclude: ['test/node/**', ...RUN_ALONE],
          setupFiles: ['./test/install-plugins.ts'],
          testTimeout: 20_000,
          hookTimeout: 30_000,
          // each file gets its own workerd (its own Durable Objects and queue); they share Postgres, Redis and the receiver
          fileParallelism: true,
          maxWorkers: PARALLEL_FILES,
        },
      },
      {
        plugins: [workersPlugin()],
        test: {
          name: 'workers-alone',
          include: RUN_ALONE,
          setupFiles: ['./test/install-plugins.ts'],
          testTimeout: 20_000,
          hookTimeout: 30_000,
          // they cut or slow the shared database and Redis links: one after another, after everything else
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'node',
          include: ['test/node/**/*.test.ts'],
          environment: 'node',
          // runs alongside the workers files, in the same group: Vitest wants one maxWorkers per group
          maxWorkers: PARALLEL_FILES,
          testTimeout: 20_000,
        },
      },
    ],
  },
});
