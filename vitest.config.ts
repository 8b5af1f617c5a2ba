import { cloudflareTest } from '@cloudflare/vitest-plugin';
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

export default defineConfig({
  test: {
    reporters: ['default', './test/summary-reporter.ts'],
    projects: [
      {
        plugins: [
          cloudflareTest(({ inject }) => ({
            wrangler: { configPath: './wrangler.toml' },
            miniflare: {
              bindings: {
                ...TEST_SECRETS,
                DATABASE_URL: offerRequiredSecrets(inject('databaseUrl')),
                NEON_WS_PROXY: inject('wsProxy'),
                CONTROL_URL: inject('controlUrl'),
                RECEIVER_URL: inject('receiverUrl'),
                EGRESS_ALLOWLIST: new URL(inject('receiverUrl')).host,
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
            },
          })),
        ],
        test: {
          name: 'workers',
          include: ['test/**/*.test.ts'],
          exclude: ['test/node/**'],
          globalSetup: ['./test/global-setup.ts'],
          setupFiles: ['./test/install-plugins.ts'],
          testTimeout: 20_000,
          hookTimeout: 30_000,
          // the outage tests pause the shared database link; files run one after another
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'node',
          include: ['test/node/**/*.test.ts'],
          environment: 'node',
          testTimeout: 20_000,
        },
      },
    ],
  },
});
