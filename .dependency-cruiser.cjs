/**
 * The layering of STYLE.md, checked by `npm run lint:deps`. Edges (http, queues, durable, sandbox) call
 * the core (ingest, delivery, tenancy), which calls db/ and the plugin contract (src/plugins); lib/ and
 * config.ts are neutral. scripts/folder-cycles.ts checks what this file cannot say: no cycles between
 * the top-level folders of src/ (a module counts for its top-level folder, src/plugins/kit for
 * src/plugins). TypeScript 7 has no compiler API yet, so swc parses (type-only imports count too).
 */
module.exports = {
  forbidden: [
    {
      name: 'core-without-framework',
      comment: 'The core is plain functions: no Hono, no Workers runtime module, so it runs and tests outside a request.',
      severity: 'error',
      from: { path: '^src/(ingest|delivery|tenancy)/' },
      to: { path: '^(cloudflare:|hono(/|$)|@hono/)|(^|/)node_modules/(hono|@hono/[^/]+)/' },
    },
    {
      name: 'no-module-cycles',
      comment: 'A module cycle makes load order matter and hides which side owns the shared code.',
      severity: 'error',
      from: { path: '^(src|plugins)/' },
      to: { circular: true },
    },
    {
      name: 'plugins-use-only-the-kit',
      comment:
        'A built-in plugin imports the contract (src/plugins/types.ts), the kit (src/plugins/kit), zod, jose and its own folder; nothing else, not another plugin.',
      severity: 'error',
      from: { path: '^plugins/([^/]+)/' },
      to: { pathNot: '^(src/plugins/types\\.ts|src/plugins/kit/index\\.ts|plugins/$1/|node_modules/(zod|jose)/)' },
    },
    {
      name: 'kit-and-contract-stay-small',
      comment: 'The contract and the kit are what plugins see: they may use lib/ but no runtime folder.',
      severity: 'error',
      from: { path: '^src/plugins/(types\\.ts|kit/)' },
      to: { path: '^src/', pathNot: '^src/(lib/|plugins/(types\\.ts|kit/))' },
    },
    {
      name: 'lib-is-neutral',
      comment: 'lib/ is shared by every layer, so it imports none of them (the parsed Worker config, src/config.ts, excepted).',
      severity: 'error',
      from: { path: '^src/lib/' },
      to: { path: '^(src/|plugins/)', pathNot: '^src/(lib/|config\\.ts$)' },
    },
    {
      name: 'config-is-a-leaf',
      comment: 'src/config.ts parses the Worker vars for every layer, so it imports none of them but lib/.',
      severity: 'error',
      from: { path: '^src/config\\.ts$' },
      to: { path: '^(src/|plugins/)', pathNot: '^src/lib/' },
    },
    {
      name: 'runtime-does-not-load-plugins',
      comment:
        'Only the composition root (src/index.ts, through src/built-ins.ts, which it imports first) loads the built-in plugins (plugins/index.ts); the runtime finds them in src/plugins/registry.ts (the JSON Schema compiler that event types and the json-schema plugin share is in src/lib/json-schema).',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/(index|built-ins)\\.ts$' },
      to: { path: '^plugins/' },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'An import that does not resolve is a typo or a missing package (the Workers runtime modules excepted).',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true, pathNot: '^cloudflare:' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    parser: 'swc',
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.js', '.json'],
    },
    skipAnalysisNotInRules: true,
  },
};
